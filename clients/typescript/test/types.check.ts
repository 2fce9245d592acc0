// Compile-time checks (tsc -p clients/typescript), nothing runs: the client is a drop-in for the original
// app's userprofileAPI.ts / stripeAPI.ts, and its models are the frontend's (contract/models.ts).
import type * as Frontend from '../../../contract/models'
import { createTokenClient } from '../src/index'
import type { TokenTransaction, UserDataUpdate, UserProfileData } from '../src/index'

type Assert<T extends true> = T
type Equal<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
// Mutually assignable and the same field names (optional fields alone would not tell).
type Same<A, B> = Equal<A, B> extends true ? Equal<keyof A, keyof B> : false

export type ProfileIsTheFrontends = Assert<Same<UserProfileData, Frontend.UserProfileData>>
export type TransactionIsTheFrontends = Assert<Same<TokenTransaction, Frontend.TokenTransaction>>
export type UpdateIsTheFrontends = Assert<Same<UserDataUpdate, Frontend.UserDataUpdate>>

// `export const { getUserProfile, ... } = createTokenClient(...)` replaces the original modules: same names,
// and each function fits the original's signature. createCheckoutSession returns the session ({id, url}) where
// the original returned void, so every original call site (`await createCheckoutSession(id, mode)`) compiles.
const { getUserProfile, updateUserProfile, createCheckoutSession } = createTokenClient({
  baseUrl: '',
  getIdToken: async () => 'token',
})
export const original: {
  getUserProfile: () => Promise<Frontend.UserProfileData>
  updateUserProfile: (data: Frontend.UserDataUpdate) => Promise<Frontend.UserProfileData>
  createCheckoutSession: (price_id: string, mode: 'subscription' | 'payment') => Promise<unknown>
} = { getUserProfile, updateUserProfile, createCheckoutSession }
export const originalCallSite = async (price_id: string): Promise<void> => {
  await createCheckoutSession(price_id, 'payment')
}

// The original let the browser set its own balance; this client does not compile such a call.
// @ts-expect-error tokens is not a UserDataUpdate field
export const setsTokens = () => updateUserProfile({ tokens: 100 })
// @ts-expect-error one_time_purchase is not a UserDataUpdate field
export const setsPurchase = () => updateUserProfile({ one_time_purchase: true })
// @ts-expect-error mode is 'payment' | 'subscription'
export const badMode = () => createCheckoutSession('price_x', 'setup')
