// Two catalogues, Simplified Chinese first and English second. Every key exists in both
// (the English table is typed by the Chinese one), and every API error code has a message,
// so a refusal is never shown as a raw code.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { ErrorCode } from '../../protocol/errors.ts';

export const LANGS = ['zh', 'en'] as const;
export type Lang = (typeof LANGS)[number];
export const LANG_DEFAULT: Lang = 'zh';

/** Failures the client itself names, next to the API's codes. */
export type ClientErrorCode = 'network' | 'offline' | 'unexpected';
export type AnyErrorCode = ErrorCode | ClientErrorCode;

const errorsZh: Record<AnyErrorCode, string> = {
  invalid_json: '请求格式有误，请刷新页面后重试。',
  invalid_body: '填写的内容有误，请检查后重试。',
  invalid_query: '查询条件有误，请修改后重试。',
  unsupported_media_type: '请求格式有误，请刷新页面后重试。',
  payload_too_large: '填写的内容过长。',
  not_found: '没有找到该页面或数据。',
  method_not_allowed: '不支持此操作。',
  unauthorized: '需要登录后才能操作。',
  forbidden: '没有权限执行此操作。',
  rate_limited: '操作太频繁，请稍等一分钟再试。',
  conflict: '数据已变化，请刷新后重试。',
  card_not_found: '学校、姓名与卡号不匹配，请核对后重试。',
  card_not_active: '这张卡已挂失、冻结或注销，无法充值。请联系学校卡务中心。',
  card_token_invalid: '这张卡的保存信息已失效，请删除后重新输入姓名和卡号。',
  school_not_found: '没有找到这所学校，请重新选择。',
  amount_out_of_range: '金额超出该校允许的范围。',
  terms_not_agreed: '请先阅读并同意充值服务协议。',
  channel_unavailable: '该支付方式暂不可用，请换一种支付方式。',
  payment_provider_error: '支付平台暂时无法下单，请稍后再试，未扣款。',
  order_not_found: '没有找到这笔订单。',
  refund_not_allowed: '这笔充值不能退款。',
  too_many_open_orders: '这张卡已有多笔待支付的充值，请先完成支付或等待其自动关闭。',
  not_configured: '该学校的充值服务尚未开通，请稍后再试或联系卡务中心。',
  signature_invalid: '签名校验失败。',
  timestamp_out_of_window: '设备时间不正确，请校准后重试。',
  replayed: '重复的请求已被拒绝。',
  unknown_hub: '未知的校园网关。',
  hub_not_found: '没有找到这个校园网关。',
  public_key_in_use: '这个公钥已属于另一个校园网关。',
  unknown_terminal: '未知的终端。',
  claim_not_found: '没有找到这次圈存。',
  claim_conflict: '圈存状态冲突，请联系卡务中心。',
  txn_seq_replayed: '重复的终端交易。',
  upgrade_required: '此地址只接受 WebSocket 连接。',
  network: '网络连接失败，请检查网络后重试。',
  offline: '当前离线，联网后才能支付。',
  unexpected: '服务暂时出现问题，请稍后再试。',
};

const errorsEn: Record<AnyErrorCode, string> = {
  invalid_json: 'The request was malformed. Reload the page and try again.',
  invalid_body: 'Something in the form is not right. Check it and try again.',
  invalid_query: 'The search is not valid. Change it and try again.',
  unsupported_media_type: 'The request was malformed. Reload the page and try again.',
  payload_too_large: 'What you entered is too long.',
  not_found: 'Not found.',
  method_not_allowed: 'This action is not supported.',
  unauthorized: 'You need to sign in for this.',
  forbidden: 'You are not allowed to do this.',
  rate_limited: 'Too many attempts. Wait a minute and try again.',
  conflict: 'Something changed meanwhile. Refresh and try again.',
  card_not_found: 'School, name and card number do not match. Check them and try again.',
  card_not_active: 'This card is reported lost, frozen or closed and cannot be topped up. Contact the card office.',
  card_token_invalid: 'This saved card is no longer valid. Forget it and enter the name and card number again.',
  school_not_found: 'School not found. Choose it again.',
  amount_out_of_range: 'The amount is outside what this school allows.',
  terms_not_agreed: 'Please read and accept the top-up terms first.',
  channel_unavailable: 'This payment method is not available right now. Choose another one.',
  payment_provider_error: 'The payment provider could not create the order. Try again later; nothing was charged.',
  order_not_found: 'Order not found.',
  refund_not_allowed: 'This top-up cannot be refunded.',
  too_many_open_orders: 'This card already has several unpaid top-ups. Pay one of them or wait for them to close.',
  not_configured: 'Top-up is not set up for this service yet. Try later or contact the card office.',
  signature_invalid: 'Signature check failed.',
  timestamp_out_of_window: 'The device clock is wrong. Correct it and try again.',
  replayed: 'A repeated request was refused.',
  unknown_hub: 'Unknown campus hub.',
  hub_not_found: 'Campus hub not found.',
  public_key_in_use: 'This public key belongs to another campus hub.',
  unknown_terminal: 'Unknown terminal.',
  claim_not_found: 'Load not found.',
  claim_conflict: 'Conflicting load state. Contact the card office.',
  txn_seq_replayed: 'Repeated terminal transaction.',
  upgrade_required: 'This address only accepts WebSocket connections.',
  network: 'Could not reach the server. Check your connection and try again.',
  offline: 'You are offline. Paying needs a connection.',
  unexpected: 'Something went wrong on our side. Try again later.',
};

const zh = {
  app_title: '一卡通充值',
  nav_home: '首页',
  nav_settings: '设置',
  back: '返回',
  skip_to_content: '跳到正文',
  not_found_title: '没有这个页面',
  home_cards: '我的卡',
  home_empty: '还没有保存的卡。第一次充值成功后，卡会保存在这台设备上，下次只需输入金额。',
  new_card: '+ 新卡充值',
  balance: '余额',
  balance_unknown: '余额暂未同步',
  pending: '待圈存',
  as_of: '截至 {time}',
  kind_student: '学生卡',
  kind_staff: '教工卡',
  kind_visitor: '临时卡',
  topup: '充值',
  records: '充值记录',
  offline_note: '离线 · 截至 {time}',
  offline_note_never: '离线 · 尚未同步',
  pay_disabled_offline: '当前离线，无法支付。联网后即可充值。',
  form_title: '新卡充值',
  quick_title: '充值',
  school: '学校',
  school_choose: '请选择学校',
  school_change: '更换',
  name: '持卡人姓名',
  name_hint: '与学校登记的姓名一致',
  name_required: '请输入持卡人姓名',
  card_no: '卡号',
  card_kind_question: '卡的类型',
  card_hint_student: '学生卡：输入学号，如 20230001。',
  card_hint_staff: '教工卡：输入工号，如 T1001。',
  card_hint_visitor: '临时卡：卡面印 “SN：000999” 的输入 999；“F000999” 这样带字母的原样输入。',
  card_preview: '将充值到卡号：{card_no}',
  card_invalid: '卡号只能由字母、数字和短横线组成，最多 32 位。',
  card_required: '请输入卡号',
  amount: '充值金额（元）',
  amount_custom: '其他金额',
  amount_custom_label: '其他金额（元）',
  amount_invalid: '请输入金额，最多两位小数，如 100.00。',
  amount_too_small: '金额至少 0.01 元。',
  amount_too_large: '该校单笔最多充值 {max} 元。',
  mobile: '手机号（选填，用于短信通知）',
  mobile_invalid: '请输入 11 位手机号，或留空。',
  terms_agree: '我已阅读并同意',
  terms_link: '《一卡通充值服务协议》',
  terms_required: '请先阅读并同意充值服务协议。',
  terms_agreed_before: '按您首次充值时同意的服务协议办理。',
  channel: '支付方式',
  channel_alipay: '支付宝',
  channel_wechat: '微信支付',
  submit: '充值',
  submitting: '正在创建订单…',
  total: '合计 {amount} 元',
  picker_title: '选择学校',
  picker_search: '搜索学校名称',
  picker_city: '城市',
  picker_all_cities: '全部城市',
  picker_empty: '没有找到学校',
  picker_index: '首字母索引',
  picker_close: '关闭',
  picker_loading: '正在加载学校…',
  order_title: '充值订单',
  order_no: '订单号 {order_id}',
  status_unpaid: '待支付',
  status_pending_claim: '待圈存',
  status_claimed: '已圈存',
  status_closed: '已关闭',
  status_refunded: '已退款',
  order_waiting: '正在确认支付结果…',
  order_unpaid_help: '尚未收到付款。完成支付后此页会自动更新。',
  order_pending_claim_help: '已到账，待圈存：在校园内任意 POS 机（食堂、超市）刷一下卡，金额即写入卡中。',
  order_claimed_help: '已圈存：{time} 在终端 {terminal} 写入卡中。',
  order_claimed_help_no_terminal: '已圈存：{time} 写入卡中。',
  order_closed_help: '订单已关闭，未扣款。',
  order_refunded_help: '已退款，款项将原路退回。',
  order_go_pay: '去支付',
  order_check: '刷新状态',
  order_home: '返回首页',
  order_records: '查看充值记录',
  records_title: '充值记录',
  records_empty: '还没有充值记录。',
  month_total: '{month} 合计 {amount} 元 · {count} 笔',
  pull_to_refresh: '下拉刷新',
  release_to_refresh: '松开刷新',
  refreshing: '正在刷新…',
  refresh: '刷新',
  created_at: '下单 {time}',
  paid_at: '支付 {time}',
  claimed_at: '圈存 {time}',
  closed_at: '关闭 {time}',
  refunded_at: '退款 {time}',
  terminal: '终端 {terminal}',
  settings_title: '设置',
  language: '语言',
  saved_cards: '已保存的卡',
  forget_card: '删除',
  forget_card_label: '从这台设备删除 {card}',
  forget_confirm: '从这台设备删除 {card} 及其记录？',
  no_saved_cards: '没有保存的卡。',
  terms_title: '一卡通充值服务协议',
  terms_p1: '您通过本应用向所选学校的校园卡充值。付款成功后，款项先进入学校账户，状态为“待圈存”；您在校园内任意 POS 机刷卡时，金额写入卡中，状态变为“已圈存”。',
  terms_p2: '请确认学校、持卡人姓名和卡号正确。姓名须与学校登记一致；系统不会透露卡号或姓名哪一项有误。',
  terms_p3: '未支付的订单在 15 分钟后自动关闭，不会扣款。尚未圈存的金额可向学校卡务中心申请退款。',
  terms_p4: '手机号仅用于发送充值短信通知，可不填写。卡的保存信息只存于本设备，可在“设置”中删除。',
  update_available: '有新版本可用。',
  update_reload: '立即更新',
  update_later: '稍后',
  error_prefix: '无法完成：',
};

const en: Record<keyof typeof zh, string> = {
  app_title: 'Campus card top-up',
  nav_home: 'Home',
  nav_settings: 'Settings',
  back: 'Back',
  skip_to_content: 'Skip to content',
  not_found_title: 'No such page',
  home_cards: 'My cards',
  home_empty: 'No saved cards yet. After its first successful top-up a card is saved on this device, and next time only the amount is needed.',
  new_card: '+ Top up a new card',
  balance: 'Balance',
  balance_unknown: 'Balance not synced yet',
  pending: 'Pending',
  as_of: 'as of {time}',
  kind_student: 'Student',
  kind_staff: 'Staff',
  kind_visitor: 'Visitor',
  topup: 'Top up',
  records: 'Records',
  offline_note: 'Offline · as of {time}',
  offline_note_never: 'Offline · not synced yet',
  pay_disabled_offline: 'You are offline, so paying is disabled. Top up once you are connected.',
  form_title: 'Top up a new card',
  quick_title: 'Top up',
  school: 'School',
  school_choose: 'Choose a school',
  school_change: 'Change',
  name: 'Card holder name',
  name_hint: 'As registered with the school',
  name_required: 'Enter the card holder name',
  card_no: 'Card number',
  card_kind_question: 'Card type',
  card_hint_student: 'Student card: your student number, e.g. 20230001.',
  card_hint_staff: 'Staff card: your staff number, e.g. T1001.',
  card_hint_visitor: 'Visitor card: printed “SN：000999” → enter 999; a lettered number like “F000999” as printed.',
  card_preview: 'Will top up card number: {card_no}',
  card_invalid: 'A card number is letters, digits and dashes, at most 32.',
  card_required: 'Enter the card number',
  amount: 'Amount (yuan)',
  amount_custom: 'Other',
  amount_custom_label: 'Other amount (yuan)',
  amount_invalid: 'Enter an amount with at most two decimals, e.g. 100.00.',
  amount_too_small: 'The amount must be at least 0.01.',
  amount_too_large: 'This school allows at most {max} yuan per top-up.',
  mobile: 'Mobile number (optional, for an SMS notice)',
  mobile_invalid: 'Enter an 11-digit mobile number, or leave it empty.',
  terms_agree: 'I have read and accept the',
  terms_link: 'top-up terms',
  terms_required: 'Please read and accept the top-up terms.',
  terms_agreed_before: 'Under the terms you accepted at your first top-up.',
  channel: 'Pay with',
  channel_alipay: 'Alipay',
  channel_wechat: 'WeChat Pay',
  submit: 'Top up',
  submitting: 'Creating the order…',
  total: 'Total {amount} yuan',
  picker_title: 'Choose a school',
  picker_search: 'Search by school name',
  picker_city: 'City',
  picker_all_cities: 'All cities',
  picker_empty: 'No school found',
  picker_index: 'Index by initial letter',
  picker_close: 'Close',
  picker_loading: 'Loading schools…',
  order_title: 'Top-up order',
  order_no: 'Order {order_id}',
  status_unpaid: 'Awaiting payment',
  status_pending_claim: 'Pending',
  status_claimed: 'Loaded',
  status_closed: 'Closed',
  status_refunded: 'Refunded',
  order_waiting: 'Checking the payment…',
  order_unpaid_help: 'No payment yet. This page updates by itself once you have paid.',
  order_pending_claim_help: 'Paid and pending: swipe your card at any POS terminal on campus (canteen, shop) to load it.',
  order_claimed_help: 'Loaded onto the card at {time} at terminal {terminal}.',
  order_claimed_help_no_terminal: 'Loaded onto the card at {time}.',
  order_closed_help: 'The order was closed; nothing was charged.',
  order_refunded_help: 'Refunded to where it was paid from.',
  order_go_pay: 'Go to payment',
  order_check: 'Check now',
  order_home: 'Home',
  order_records: 'See records',
  records_title: 'Records',
  records_empty: 'No top-ups yet.',
  month_total: '{month}: {amount} yuan · {count} top-ups',
  pull_to_refresh: 'Pull to refresh',
  release_to_refresh: 'Release to refresh',
  refreshing: 'Refreshing…',
  refresh: 'Refresh',
  created_at: 'Ordered {time}',
  paid_at: 'Paid {time}',
  claimed_at: 'Loaded {time}',
  closed_at: 'Closed {time}',
  refunded_at: 'Refunded {time}',
  terminal: 'Terminal {terminal}',
  settings_title: 'Settings',
  language: 'Language',
  saved_cards: 'Saved cards',
  forget_card: 'Forget',
  forget_card_label: 'Forget {card} on this device',
  forget_confirm: 'Forget {card} and its records on this device?',
  no_saved_cards: 'No saved cards.',
  terms_title: 'Campus card top-up terms',
  terms_p1: 'You top up the campus card of the school you choose. Once paid, the money waits in the school’s account as “pending”; the next time the card is swiped at any POS terminal on campus, it is written onto the card and becomes “loaded”.',
  terms_p2: 'Make sure the school, holder name and card number are right. The name must match the school’s register; we never say which of the two was wrong.',
  terms_p3: 'Unpaid orders close after 15 minutes and nothing is charged. Money not yet loaded can be refunded through the school’s card office.',
  terms_p4: 'The mobile number is only used for the SMS notice and is optional. A saved card lives only on this device and can be forgotten in Settings.',
  update_available: 'A new version is available.',
  update_reload: 'Reload now',
  update_later: 'Later',
  error_prefix: 'Could not complete: ',
};

export type MessageKey = keyof typeof zh;
const CATALOGUES: Record<Lang, { messages: Record<MessageKey, string>; errors: Record<AnyErrorCode, string> }> = {
  zh: { messages: zh, errors: errorsZh },
  en: { messages: en, errors: errorsEn },
};

export const LANG_NAMES: Record<Lang, string> = { zh: '简体中文', en: 'English' };

export function isLang(value: unknown): value is Lang {
  return typeof value === 'string' && (LANGS as readonly string[]).includes(value);
}

export function translate(lang: Lang, key: MessageKey, params: Record<string, string | number> = {}): string {
  const template = CATALOGUES[lang].messages[key];
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

export function errorMessage(lang: Lang, code: string): string {
  const errors = CATALOGUES[lang].errors;
  return code in errors ? errors[code as AnyErrorCode] : errors.unexpected;
}

/** Dates as people in the schools read them: China Standard Time, whatever the phone's zone. */
export function formatTime(lang: Lang, at_ms: number): string {
  return new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : 'en-GB', {
    timeZone: 'Asia/Shanghai',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  }).format(at_ms);
}

/** "2026-11" → "2026年11月" / "Nov 2026". */
export function formatMonth(lang: Lang, month: string): string {
  const match = /^(\d{4})-(\d{2})$/.exec(month);
  if (match === null) return month;
  if (lang === 'zh') return `${match[1]}年${Number(match[2])}月`;
  const names = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  return `${names[Number(match[2]) - 1] ?? match[2]} ${match[1]}`;
}

export interface I18n {
  lang: Lang;
  t: (key: MessageKey, params?: Record<string, string | number>) => string;
  error: (code: string) => string;
  time: (at_ms: number) => string;
}

export function makeI18n(lang: Lang): I18n {
  return {
    lang,
    t: (key, params) => translate(lang, key, params),
    error: (code) => errorMessage(lang, code),
    time: (at_ms) => formatTime(lang, at_ms),
  };
}

export const I18nContext = createContext<I18n>(makeI18n(LANG_DEFAULT));

export function useI18n(): I18n {
  return useContext(I18nContext);
}
