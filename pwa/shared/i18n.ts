// What the card holders' words (pwa/src/i18n.ts) and the console's (pwa/console/i18n.ts) have in
// common: the two languages, `{name}` templates, times in China Standard Time, and the shape and
// context of what a component gets from useI18n. Each entry keeps its own catalogue.
import { createContext, type Context } from 'preact';
import { useContext } from 'preact/hooks';

export const LANGS = ['zh', 'en'] as const;
export type Lang = (typeof LANGS)[number];
export const LANG_DEFAULT: Lang = 'zh';
export const LANG_NAMES: Record<Lang, string> = { zh: '简体中文', en: 'English' };

export function isLang(value: unknown): value is Lang {
  return typeof value === 'string' && (LANGS as readonly string[]).includes(value);
}

/** A catalogue's template with each `{name}` taken from params; a name params lack stays as written. */
export function fillTemplate(template: string, params: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

/** Dates as people in the schools read them: China Standard Time, whatever the device's zone. */
export function formatTime(lang: Lang, at_ms: number, options: { seconds?: boolean } = {}): string {
  return new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : 'en-GB', {
    timeZone: 'Asia/Shanghai',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: options.seconds ? '2-digit' : undefined,
    hour12: false,
  }).format(at_ms);
}

/** What a component gets from useI18n: its entry's words, the API's error sentences, times. */
export interface I18nBase<K extends string> {
  lang: Lang;
  t: (key: K, params?: Record<string, string | number>) => string;
  error: (code: string) => string;
  time: (at_ms: number) => string;
}

/** The part of an entry's I18n that only its catalogues change. */
export function makeI18nBase<K extends string>(
  lang: Lang,
  words: { translate: (lang: Lang, key: K, params?: Record<string, string | number>) => string; errorMessage: (lang: Lang, code: string) => string },
): I18nBase<K> {
  return {
    lang,
    t: (key, params) => words.translate(lang, key, params),
    error: (code) => words.errorMessage(lang, code),
    time: (at_ms) => formatTime(lang, at_ms),
  };
}

/** An entry's context (its app provides the chosen language's) and the hook its components read it by. */
export function i18nContext<T>(fallback: T): { I18nContext: Context<T>; useI18n: () => T } {
  const I18nContext = createContext<T>(fallback);
  return { I18nContext, useI18n: () => useContext(I18nContext) };
}
