// The simulated Alipay withholding agreement (商户代扣, DESIGN section 7): the
// `alipay.user.agreement.page.sign` page the payer signs on, the signed `dut_user_sign` /
// `dut_user_unsign` notifications, `alipay.user.agreement.query` / `.unsign`, and the
// agreement side of `alipay.trade.pay` with `agreement_params` (alipay.ts owns the trade).
//
// Controls (JSON, not part of Alipay's protocol):
//   POST /sim/alipay/agreements/{external_agreement_no}/sign          the payer presses 同意并签约
//   POST /sim/alipay/agreements/{external_agreement_no}/unsign        the payer unsigns in the app
//   POST /sim/alipay/agreements/{external_agreement_no}/notification  {notify_type?} → signed, NOT sent
//   POST /sim/alipay/agreements/{external_agreement_no}/fail-next     {sub_code?} the next withholding fails
//   GET  /sim/alipay/agreements/{external_agreement_no}               → {agreement}
import { alipaySign, formatChinaTime } from '../../protocol/alipay.ts';
import { bytesToHex } from '../../protocol/encoding.ts';
import { escapeHtml, messagePage } from './cashier.ts';
import type { GatewayContext, GatewayRequest, GatewayResponse, OutgoingNotification } from './types.ts';

export const AGREEMENT_PAGE_SIGN = 'alipay.user.agreement.page.sign';
export const AGREEMENT_PRODUCT_CODE = 'GENERAL_WITHHOLDING_P';
const AGREEMENTS_MAX = 10_000;
// A signed agreement is valid for ten years unless unsigned, as Alipay's default.
const VALID_MS = 10 * 365 * 86_400_000;

export type AgreementStatus = 'TEMP' | 'NORMAL' | 'UNSIGN';

export interface SimAgreement {
  external_agreement_no: string;
  agreement_no: string;
  app_id: string;
  personal_product_code: string;
  sign_scene: string;
  status: AgreementStatus;
  notify_url: string | null;
  return_url: string | null;
  alipay_user_id: string;
  alipay_logon_id: string;
  created_at_ms: number;
  sign_time_ms: number | null;
  unsign_time_ms: number | null;
  /** The sub_code the next withholding charge fails with; null when it succeeds. */
  fail_next: string | null;
}

type Node = Record<string, string>;

export interface AgreementSim {
  /** The page.sign request, already signature-checked by alipay.ts. */
  signPage(params: Record<string, string>, biz: Record<string, unknown>, now_ms: number): GatewayResponse;
  query(biz: Record<string, unknown>): Node;
  unsign(biz: Record<string, unknown>, now_ms: number): Promise<Node>;
  /** For alipay.trade.pay: null when the agreement may be charged, else Alipay's refusal node. */
  chargeable(agreement_no: string): Node | null;
  control(request: GatewayRequest): Promise<GatewayResponse | null>;
}

function str(biz: Record<string, unknown>, name: string): string | undefined {
  const value = biz[name];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function businessFailure(sub_code: string, sub_msg: string): Node {
  return { code: '40004', msg: 'Business Failed', sub_code, sub_msg };
}

function html(status: number, body: string): GatewayResponse {
  return { status, headers: { 'content-type': 'text/html; charset=utf-8' }, body };
}

function reply(status: number, value: unknown): GatewayResponse {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(value) };
}

export function createAgreementSim(ctx: GatewayContext, alipayKey: Promise<CryptoKey>): AgreementSim {
  const agreements = new Map<string, SimAgreement>();
  let seq = Math.floor(Math.random() * 1e9);

  function byAgreementNo(agreement_no: string): SimAgreement | undefined {
    for (const agreement of agreements.values()) if (agreement.agreement_no === agreement_no) return agreement;
    return undefined;
  }

  async function notificationFor(agreement: SimAgreement, notify_type: 'dut_user_sign' | 'dut_user_unsign', now_ms: number): Promise<OutgoingNotification & { params: Node }> {
    const params: Node = {
      notify_id: `2026${bytesToHex(crypto.getRandomValues(new Uint8Array(16)))}`,
      notify_time: formatChinaTime(now_ms),
      notify_type,
      sign_type: 'RSA2',
      charset: 'utf-8',
      version: '1.0',
      app_id: agreement.app_id,
      agreement_no: agreement.agreement_no,
      external_agreement_no: agreement.external_agreement_no,
      alipay_user_id: agreement.alipay_user_id,
      alipay_logon_id: agreement.alipay_logon_id,
      personal_product_code: agreement.personal_product_code,
      sign_scene: agreement.sign_scene,
      status: notify_type === 'dut_user_sign' ? 'NORMAL' : 'UNSIGN',
    };
    if (agreement.sign_time_ms !== null) {
      params.sign_time = formatChinaTime(agreement.sign_time_ms);
      params.valid_time = formatChinaTime(agreement.sign_time_ms);
      params.invalid_time = formatChinaTime(agreement.sign_time_ms + VALID_MS);
    }
    if (notify_type === 'dut_user_unsign' && agreement.unsign_time_ms !== null) params.unsign_time = formatChinaTime(agreement.unsign_time_ms);
    params.sign = await alipaySign(await alipayKey, params, 'notification');
    return {
      channel: 'alipay',
      out_trade_no: agreement.external_agreement_no,
      url: agreement.notify_url ?? '',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body: new URLSearchParams(params).toString(),
      params,
    };
  }

  async function notify(agreement: SimAgreement, notify_type: 'dut_user_sign' | 'dut_user_unsign', now_ms: number): Promise<void> {
    if (agreement.notify_url === null) return;
    const { params: _params, ...notification } = await notificationFor(agreement, notify_type, now_ms);
    ctx.notify(notification);
  }

  async function sign(agreement: SimAgreement, now_ms: number): Promise<boolean> {
    if (agreement.status !== 'TEMP') return false;
    agreement.status = 'NORMAL';
    agreement.sign_time_ms = now_ms;
    await notify(agreement, 'dut_user_sign', now_ms);
    return true;
  }

  async function unsignAgreement(agreement: SimAgreement, now_ms: number): Promise<boolean> {
    if (agreement.status !== 'NORMAL') return false;
    agreement.status = 'UNSIGN';
    agreement.unsign_time_ms = now_ms;
    await notify(agreement, 'dut_user_unsign', now_ms);
    return true;
  }

  function signPage(params: Record<string, string>, biz: Record<string, unknown>, now_ms: number): GatewayResponse {
    const external_agreement_no = str(biz, 'external_agreement_no');
    const personal_product_code = str(biz, 'personal_product_code');
    const sign_scene = str(biz, 'sign_scene') ?? 'DEFAULT|DEFAULT';
    if (external_agreement_no === undefined || external_agreement_no.length > 32) return html(400, messagePage('签约请求无效', '缺少 external_agreement_no'));
    if (personal_product_code !== AGREEMENT_PRODUCT_CODE) return html(400, messagePage('签约请求无效', `personal_product_code 应为 ${AGREEMENT_PRODUCT_CODE}`));
    let agreement = agreements.get(external_agreement_no);
    if (agreement === undefined) {
      if (agreements.size >= AGREEMENTS_MAX) return html(503, messagePage('系统繁忙', '模拟网关的协议数已达上限'));
      seq += 1;
      agreement = {
        external_agreement_no,
        agreement_no: `20${formatChinaTime(now_ms).replace(/[^0-9]/g, '').slice(0, 8)}${(seq % 1e12).toString().padStart(12, '0')}`,
        app_id: params.app_id!,
        personal_product_code,
        sign_scene,
        status: 'TEMP',
        notify_url: params.notify_url || null,
        return_url: params.return_url || null,
        alipay_user_id: `2088${(seq % 1e12).toString().padStart(12, '0')}`,
        alipay_logon_id: 'sim***@example.com',
        created_at_ms: now_ms,
        sign_time_ms: null,
        unsign_time_ms: null,
        fail_next: null,
      };
      agreements.set(external_agreement_no, agreement);
    }
    if (agreement.status !== 'TEMP') return html(200, messagePage('协议已处理', agreement.status === 'NORMAL' ? '已签约' : '已解约', agreement.return_url));
    const no = escapeHtml(external_agreement_no);
    return html(
      200,
      messagePage('支付宝代扣协议', '同意后，商户可在校园卡余额低于您设置的金额时从支付宝扣款充值。').replace(
        '</main>',
        `<form method="post" action="/cashier/agreement/sign"><input type="hidden" name="external_agreement_no" value="${no}"><button class="pay" type="submit">同意并签约</button></form></main>`,
      ),
    );
  }

  function query(biz: Record<string, unknown>): Node {
    const agreement_no = str(biz, 'agreement_no');
    const external = str(biz, 'external_agreement_no');
    const agreement = agreement_no !== undefined ? byAgreementNo(agreement_no) : external !== undefined ? agreements.get(external) : undefined;
    // A page that was opened but never signed is no agreement yet.
    if (agreement === undefined || agreement.status === 'TEMP') return businessFailure('USER_AGREEMENT_NOT_EXIST', '用户协议不存在');
    const node: Node = {
      code: '10000',
      msg: 'Success',
      agreement_no: agreement.agreement_no,
      external_agreement_no: agreement.external_agreement_no,
      principal_id: agreement.alipay_user_id,
      alipay_logon_id: agreement.alipay_logon_id,
      personal_product_code: agreement.personal_product_code,
      sign_scene: agreement.sign_scene,
      status: agreement.status === 'NORMAL' ? 'NORMAL' : 'STOP',
    };
    if (agreement.sign_time_ms !== null) {
      node.sign_time = formatChinaTime(agreement.sign_time_ms);
      node.valid_time = formatChinaTime(agreement.sign_time_ms);
      node.invalid_time = formatChinaTime(agreement.sign_time_ms + VALID_MS);
    }
    return node;
  }

  async function unsign(biz: Record<string, unknown>, now_ms: number): Promise<Node> {
    const agreement_no = str(biz, 'agreement_no');
    const agreement = agreement_no === undefined ? undefined : byAgreementNo(agreement_no);
    if (agreement === undefined) return businessFailure('USER_AGREEMENT_NOT_EXIST', '用户协议不存在');
    // Unsigning twice is answered as done: the merchant's retry must be safe.
    if (agreement.status === 'NORMAL') await unsignAgreement(agreement, now_ms);
    return { code: '10000', msg: 'Success' };
  }

  function chargeable(agreement_no: string): Node | null {
    const agreement = byAgreementNo(agreement_no);
    if (agreement === undefined) return businessFailure('ACQ.AGREEMENT_NOT_EXIST', '协议不存在');
    if (agreement.status !== 'NORMAL') return businessFailure('ACQ.AGREEMENT_STATUS_NOT_NORMAL', '协议状态非正常状态');
    if (agreement.fail_next !== null) {
      const sub_code = agreement.fail_next;
      agreement.fail_next = null;
      return businessFailure(sub_code, sub_code === 'ACQ.BUYER_BALANCE_NOT_ENOUGH' ? '买家余额不足' : '支付失败');
    }
    return null;
  }

  async function control(request: GatewayRequest): Promise<GatewayResponse | null> {
    const now_ms = Date.now();
    if (request.url.pathname === '/cashier/agreement/sign' && request.method === 'POST') {
      const agreement = agreements.get(new URLSearchParams(request.body).get('external_agreement_no') ?? '');
      if (agreement === undefined) return html(404, messagePage('协议不存在', ''));
      await sign(agreement, now_ms);
      if (agreement.return_url !== null) return { status: 302, headers: { location: agreement.return_url }, body: '' };
      return html(200, messagePage('签约成功', '代扣协议已生效'));
    }
    const match = /^\/sim\/alipay\/agreements\/([^/]+)(?:\/(sign|unsign|notification|fail-next))?$/.exec(request.url.pathname);
    if (match === null) return null;
    const agreement = agreements.get(decodeURIComponent(match[1]!));
    if (agreement === undefined) return reply(404, { error: { code: 'not_found', message: 'no such agreement' } });
    const action = match[2];
    if (action === undefined) return request.method === 'GET' ? reply(200, { agreement }) : reply(405, { error: { code: 'method_not_allowed', message: 'GET only' } });
    if (request.method !== 'POST') return reply(405, { error: { code: 'method_not_allowed', message: 'POST only' } });
    let body: Record<string, unknown> = {};
    try {
      body = request.body.trim() === '' ? {} : (JSON.parse(request.body) as Record<string, unknown>);
    } catch {
      return reply(400, { error: { code: 'invalid_json', message: 'body is not JSON' } });
    }
    switch (action) {
      case 'sign':
        return (await sign(agreement, now_ms)) ? reply(200, { agreement }) : reply(409, { error: { code: 'not_temp', message: `agreement is ${agreement.status}` } });
      case 'unsign':
        return (await unsignAgreement(agreement, now_ms)) ? reply(200, { agreement }) : reply(409, { error: { code: 'not_normal', message: `agreement is ${agreement.status}` } });
      case 'notification': {
        const type = body.notify_type ?? (agreement.status === 'UNSIGN' ? 'dut_user_unsign' : 'dut_user_sign');
        if (type !== 'dut_user_sign' && type !== 'dut_user_unsign') return reply(400, { error: { code: 'invalid_body', message: 'notify_type' } });
        return reply(200, await notificationFor(agreement, type, now_ms));
      }
      case 'fail-next': {
        const sub_code = body.sub_code ?? 'ACQ.BUYER_BALANCE_NOT_ENOUGH';
        if (typeof sub_code !== 'string' || !/^ACQ\.[A-Z_]{1,40}$/.test(sub_code)) return reply(400, { error: { code: 'invalid_body', message: 'sub_code' } });
        agreement.fail_next = sub_code;
        return reply(200, { agreement });
      }
    }
    return null;
  }

  return { signPage, query, unsign, chargeable, control };
}
