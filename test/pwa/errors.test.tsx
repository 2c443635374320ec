// Every refusal the API can give has its own clear sentence in both languages.
import { screen } from '@testing-library/preact';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../protocol/errors.ts';
import { ErrorText } from '../../pwa/src/components/common.tsx';
import { errorMessage, LANGS } from '../../pwa/src/i18n.ts';
import { renderIn } from './render.tsx';

describe('error messages', () => {
  it('maps every API error code to its own message in Chinese and English', () => {
    for (const lang of LANGS) {
      const fallback = errorMessage(lang, 'unexpected');
      for (const code of ERROR_CODES) {
        const message = errorMessage(lang, code);
        expect(message, `${lang} ${code}`).not.toBe(fallback);
        expect(message, `${lang} ${code}`).not.toContain(code);
        expect(message.length).toBeGreaterThan(3);
      }
    }
    // Chinese first: the Chinese messages are Chinese.
    for (const code of ERROR_CODES) expect(errorMessage('zh', code)).toMatch(/[\u4e00-\u9fff]/);
  });

  it('never says whether the card or the name was wrong', () => {
    expect(errorMessage('zh', 'card_not_found')).toBe('学校、姓名与卡号不匹配，请核对后重试。');
    expect(errorMessage('en', 'card_not_found')).toBe('School, name and card number do not match. Check them and try again.');
  });

  it('shows a refusal as an alert, and an unknown code as a generic failure rather than a raw code', () => {
    renderIn('zh', <ErrorText code="rate_limited" />);
    expect(screen.getByRole('alert').textContent).toBe('无法完成：操作太频繁，请稍等一分钟再试。');
  });

  it('falls back to a sentence for a code it does not know', () => {
    renderIn('en', <ErrorText code="something_new" />);
    expect(screen.getByRole('alert').textContent).toBe('Could not complete: Something went wrong on our side. Try again later.');
  });

  it('explains network failures and being offline', () => {
    expect(errorMessage('zh', 'network')).toBe('网络连接失败，请检查网络后重试。');
    expect(errorMessage('en', 'offline')).toBe('You are offline. Paying needs a connection.');
  });
});
