export { createTokenClient } from './client'
export type { TokenClient, TokenClientOptions } from './client'
export * from './errors'
export type * from './models'
