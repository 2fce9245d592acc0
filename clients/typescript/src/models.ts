// The frontend's model types, taken from the generated schema so they are always what the gateway serves.
// Names are the original app's (frontend/nextjs/api/types/models.ts); test/types.check.ts checks them against
// contract/models.ts. Timestamps are ISO-8601 strings (UTC): `new Date(profile.created_at)`.
import type { components, paths } from './schema'

type Schemas = components['schemas']

export type UserProfileData = Schemas['UserProfileData']
export type TokenTransaction = Schemas['TokenTransaction']
export type TokenTransactionType = TokenTransaction['type']
// No `tokens`, no `one_time_purchase`: the gateway refuses them (reason READ_ONLY_FIELD).
export type UserDataUpdate = Schemas['UserDataUpdate']
export type TokenHistoryPage = Schemas['TokenHistoryPage']
export type Price = Schemas['Price']
export type CheckoutMode = Schemas['CheckoutSessionCreate']['mode']
// `url` is the Stripe Checkout page to send the browser to.
export type CheckoutSession = Schemas['CheckoutSession']
// What the success page reads: status 'fulfilled' | 'pending' | 'failed' | 'subscription', and the balance.
export type CheckoutSessionStatus = Schemas['CheckoutSessionStatus']
export type ErrorDetail = Schemas['ErrorDetail']
// `url` is the Stripe billing portal page to send the browser to.
export type BillingPortalSession = Schemas['BillingPortalSession']

// Whatever else POST /v1/checkout-sessions accepts (quantity, ...), plus the Idempotency-Key header.
export type CheckoutOptions = Omit<Schemas['CheckoutSessionCreate'], 'price_id' | 'mode'> & {
  idempotencyKey?: string
}
export type TokenHistoryQuery = NonNullable<paths['/v1/profile/token-history']['get']['parameters']['query']>
