// Bindings and configuration of the Worker (wrangler.toml, `.dev.vars`, `wrangler secret put`).
// Names are DESIGN section 5's; README lists what each one is for. The payment channels declare
// the names they read (worker/pay/alipay.ts, wechat.ts), so those also run in Node.
import type { AlipayVars } from './pay/alipay.ts';
import type { WechatVars } from './pay/wechat.ts';

export interface Env extends AlipayVars, WechatVars {
  DB: D1Database;
  ASSETS?: Fetcher;
  // Per client address and per card (DESIGN section 4); absent in a config without them.
  RATE_LIMIT_CLIENT?: RateLimit;
  RATE_LIMIT_CARD?: RateLimit;
  // Per (school, holder name) and per school: what an attacker behind many addresses cannot spread.
  RATE_LIMIT_NAME?: RateLimit;
  RATE_LIMIT_SCHOOL?: RateLimit;
  SCHOOL_HUB?: DurableObjectNamespace;

  ADMIN_TOKEN?: string;
  CARD_TOKEN_SECRET?: string;
  // Where providers send notifications and return the payer; the request's origin if unset.
  PUBLIC_BASE_URL?: string;
  // Minutes an unpaid order stays payable (default 15).
  ORDER_EXPIRY_MINUTES?: string;
  // "1": every request, queue batch and cron run logs its D1 statements (worker/http/d1-meter.ts).
  D1_QUERY_LOG?: string;
}

// SMS notices (DESIGN section 7): the queue between producer and consumer, and Aliyun SMS.
export interface Env {
  NOTICES?: Queue<import('../protocol/notices.ts').NoticeMessage>;
  ALIYUN_SMS_ACCESS_KEY_ID?: string;
  ALIYUN_SMS_ACCESS_KEY_SECRET?: string;
  ALIYUN_SMS_SIGN_NAME?: string;
  // Aliyun's endpoint (default https://dysmsapi.aliyuncs.com), or the simulator's origin.
  ALIYUN_SMS_ENDPOINT?: string;
  // Template codes (SMS_…) approved for each notice, with ${school}, ${card} and ${amount}.
  ALIYUN_SMS_TEMPLATE_PAID?: string;
  ALIYUN_SMS_TEMPLATE_CLAIMED?: string;
  ALIYUN_SMS_TEMPLATE_REFUNDED?: string;
  ALIYUN_SMS_TEMPLATE_AUTO_CHARGED?: string;
  // First retry delay of a failed send, doubled each time (default 30 s).
  NOTICE_RETRY_DELAY_S?: string;
}

export type AppEnv = { Bindings: Env };

// The console (issue 10): sign-in attempts per address and per operator name; Cloudflare
// Access in front of /console (team domain, e.g. `yikatong.cloudflareaccess.com`, and the
// application's AUD tag); CF_ACCESS_JWKS pins the team's key set as JSON instead of fetching
// it from the team domain (tests use it).
export interface Env {
  RATE_LIMIT_SIGNIN?: RateLimit;
  CF_ACCESS_TEAM_DOMAIN?: string;
  CF_ACCESS_AUD?: string;
  CF_ACCESS_JWKS?: string;
}
