// What every screen of ours must give a user, checked in real Chromium before a screenshot:
// nothing wider than the viewport, every form control labelled, and text contrast of at least
// 4.5:1 (3:1 for large or bold text), WCAG AA. The PWA's and the console's browser tests share it.
import type { Page } from 'playwright-core';

/** The problems found on the page as it is now; empty when there are none. */
export function accessibilityProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const found: string[] = [];
    if (document.documentElement.scrollWidth > window.innerWidth) {
      found.push(`page is ${document.documentElement.scrollWidth}px wide in a ${window.innerWidth}px viewport`);
    }
    for (const control of document.querySelectorAll<HTMLInputElement | HTMLSelectElement | HTMLButtonElement>('input, select, button')) {
      const labelled =
        (control instanceof HTMLButtonElement && (control.textContent ?? '').trim() !== '') ||
        control.getAttribute('aria-label') ||
        control.getAttribute('aria-labelledby') ||
        ('labels' in control && control.labels !== null && control.labels.length > 0);
      if (!labelled && control.type !== 'hidden') found.push(`unlabelled ${control.outerHTML.slice(0, 80)}`);
    }
    const rgb = (text: string) => (text.match(/[\d.]+/g) ?? []).map(Number);
    const luminance = ([r, g, b]: number[]) => {
      const channel = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * channel(r!) + 0.7152 * channel(g!) + 0.0722 * channel(b!);
    };
    const background = (element: Element | null): number[] => {
      for (let node = element; node !== null; node = node.parentElement) {
        const color = rgb(getComputedStyle(node).backgroundColor);
        if (color.length === 3 || (color.length === 4 && color[3]! > 0.5)) return color.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node !== null; node = walker.nextNode()) {
      const element = node.parentElement;
      if (element === null || (node.textContent ?? '').trim() === '') continue;
      if (element.closest('[disabled], .skip, .visually-hidden, noscript') !== null) continue;
      const rect = element.getBoundingClientRect();
      if (rect.width === 0 || rect.height === 0) continue;
      const style = getComputedStyle(element);
      const [l1, l2] = [luminance(rgb(style.color)), luminance(background(element))].sort((a, b) => b - a);
      const ratio = (l1! + 0.05) / (l2! + 0.05);
      const size_px = parseFloat(style.fontSize);
      const large = size_px >= 24 || (size_px >= 18.66 && Number(style.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) found.push(`contrast ${ratio.toFixed(2)} for "${(node.textContent ?? '').trim().slice(0, 30)}"`);
    }
    return found;
  });
}
