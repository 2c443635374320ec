// Placeholder until the WeChat Pay side of the gateway lands: answers nothing.
import type { HandlerFactory } from './types.ts';

export const createWechatHandler: HandlerFactory = () => async () => null;
