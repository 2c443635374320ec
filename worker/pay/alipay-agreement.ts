// Alipay withholding (商户代扣) over the OpenAPI, with the same signing and verified answers as
// the payment channel (worker/pay/alipay.ts): the signed `alipay.user.agreement.page.sign` URL
// the payer signs on, `alipay.user.agreement.query` / `.unsign`, and `alipay.trade.pay` with
// `agreement_params` for a charge. The simulated gateway answers the same protocol.
import { formatChinaTime, parseChinaTime } from '../../protocol/alipay.ts';
import { fenToYuan, yuanToFen } from '../../protocol/money.ts';
import { call, refusal, signedParams, text, type AlipayConfig } from './alipay.ts';
import { ProviderError } from './channel.ts';

// Alipay's product for merchant withholding, and the scene campus cards sign under.
export const AGREEMENT_PRODUCT_CODE = 'GENERAL_WITHHOLDING_P';
export const AGREEMENT_SIGN_SCENE = 'INDUSTRY|CAMPUS_CARD';

export type AgreementState =
  | { state: 'normal'; agreement_no: string; user_id: string | null; signed_at_ms: number | null }
  | { state: 'stopped'; agreement_no: string }
  | { state: 'not_found' };

export type ChargeOutcome =
  | { state: 'paid'; provider_trade_no: string; amount_fen: number; paid_at_ms: number }
  | { state: 'refused'; provider_code: string; message: string };

/** The page the payer's browser opens to sign; Alipay then notifies dut_user_sign. */
export async function agreementSignUrl(
  config: AlipayConfig,
  input: { agreement_id: string; notify_url: string; return_url: string },
  now_ms: number,
): Promise<string> {
  const params = await signedParams(
    config,
    'alipay.user.agreement.page.sign',
    {
      personal_product_code: AGREEMENT_PRODUCT_CODE,
      sign_scene: AGREEMENT_SIGN_SCENE,
      external_agreement_no: input.agreement_id,
      product_code: 'GENERAL_WITHHOLDING',
    },
    { notify_url: input.notify_url, return_url: input.return_url },
    now_ms,
  );
  const url = new URL(config.gateway);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.toString();
}

export async function queryAgreement(config: AlipayConfig, agreement_id: string): Promise<AgreementState> {
  const node = await call(config, 'alipay.user.agreement.query', {
    personal_product_code: AGREEMENT_PRODUCT_CODE,
    sign_scene: AGREEMENT_SIGN_SCENE,
    external_agreement_no: agreement_id,
  });
  if (node.code === '40004' && node.sub_code === 'USER_AGREEMENT_NOT_EXIST') return { state: 'not_found' };
  if (node.code !== '10000') throw refusal(node, 'agreement query');
  const agreement_no = text(node, 'agreement_no');
  if (agreement_no === null || text(node, 'external_agreement_no') !== agreement_id) {
    throw new ProviderError('alipay', 'bad_response', 'agreement query answered about another agreement', true);
  }
  if (node.status === 'NORMAL') {
    return { state: 'normal', agreement_no, user_id: text(node, 'principal_id'), signed_at_ms: parseChinaTime(text(node, 'sign_time') ?? '') };
  }
  return { state: 'stopped', agreement_no };
}

/** The merchant ends the agreement (the holder cancelled in the PWA). Unsigning twice is fine. */
export async function unsignAgreement(config: AlipayConfig, agreement_no: string): Promise<void> {
  const node = await call(config, 'alipay.user.agreement.unsign', {
    agreement_no,
    personal_product_code: AGREEMENT_PRODUCT_CODE,
    sign_scene: AGREEMENT_SIGN_SCENE,
  });
  if (node.code === '10000' || (node.code === '40004' && node.sub_code === 'USER_AGREEMENT_NOT_EXIST')) return;
  throw refusal(node, 'agreement unsign');
}

/**
 * One withholding charge. A business refusal (balance, agreement state) is an outcome; a
 * transient failure throws ProviderError, and the order stays unpaid for the expiry cron's
 * trade query to settle, exactly like a payment whose notification never came.
 */
export async function chargeAgreement(
  config: AlipayConfig,
  input: { order_id: string; amount_fen: number; subject: string; agreement_no: string; notify_url?: string; expires_at_ms: number },
): Promise<ChargeOutcome> {
  if (!Number.isSafeInteger(input.amount_fen) || input.amount_fen <= 0) throw new RangeError('amount must be positive fen');
  const node = await call(
    config,
    'alipay.trade.pay',
    {
      out_trade_no: input.order_id,
      total_amount: fenToYuan(input.amount_fen),
      subject: input.subject,
      product_code: 'GENERAL_WITHHOLDING',
      time_expire: formatChinaTime(input.expires_at_ms),
      agreement_params: { agreement_no: input.agreement_no },
    },
    input.notify_url === undefined ? {} : { notify_url: input.notify_url },
  );
  if (node.code === '10000') {
    const provider_trade_no = text(node, 'trade_no');
    const amount_fen = yuanToFen(text(node, 'total_amount') ?? '');
    if (text(node, 'out_trade_no') !== input.order_id || provider_trade_no === null || amount_fen !== input.amount_fen) {
      throw new ProviderError('alipay', 'bad_response', 'withholding answer about another trade or amount', true);
    }
    return { state: 'paid', provider_trade_no, amount_fen, paid_at_ms: parseChinaTime(text(node, 'gmt_payment') ?? '') ?? Date.now() };
  }
  const failure = refusal(node, 'withholding');
  if (failure.transient || node.code === '10003' || node.code === '20000') throw failure;
  return { state: 'refused', provider_code: failure.provider_code, message: failure.message };
}
