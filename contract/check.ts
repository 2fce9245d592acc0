// Compile-time contract between the gateway's OpenAPI description and the frontend's models.
// ./generated/openapi.ts is written by openapi-typescript from the gateway's /openapi.json.
import type { components } from './generated/openapi'
import type { TokenTransaction, UserDataUpdate, UserProfileData } from './models'

type Schemas = components['schemas']
type Assert<T extends true> = T
type Assignable<From, To> = [From] extends [To] ? true : false
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false
type Lacks<T, K extends PropertyKey> = [Extract<K, keyof T>] extends [never] ? true : false

// What the API returns is what the frontend reads, field for field.
export type ProfileReads = Assert<Assignable<Schemas['UserProfileData'], UserProfileData>>
export type ProfileFields = Assert<SameKeys<Schemas['UserProfileData'], UserProfileData>>
export type TransactionReads = Assert<Assignable<Schemas['TokenTransaction'], TokenTransaction>>
export type TransactionFields = Assert<SameKeys<Schemas['TokenTransaction'], TokenTransaction>>
export type HistoryReads = Assert<Assignable<Schemas['TokenHistoryPage']['entries'][number], TokenTransaction>>

// What the frontend sends is what the API accepts, and nothing more.
export type UpdateSends = Assert<Assignable<UserDataUpdate, Schemas['UserDataUpdate']>>
export type UpdateMatches = Assert<Assignable<Schemas['UserDataUpdate'], UserDataUpdate>>
export type UpdateFields = Assert<SameKeys<Schemas['UserDataUpdate'], UserDataUpdate>>

// Defect 5: neither side lets the browser set its balance or purchase flags.
export type ApiUpdateHasNoTokens = Assert<Lacks<Schemas['UserDataUpdate'], 'tokens' | 'one_time_purchase' | 'has_access'>>
export type ModelUpdateHasNoTokens = Assert<Lacks<UserDataUpdate, 'tokens' | 'one_time_purchase' | 'has_access'>>

// The original's names are kept.
export type OriginalProfileFields = Assert<Assignable<'tokens' | 'one_time_purchase', keyof UserProfileData>>
export type OriginalTransactionFields = Assert<Assignable<'amount' | 'type' | 'timestamp', keyof TokenTransaction>>
export type PurchaseIsAType = Assert<Assignable<'purchase', Schemas['TokenTransaction']['type']>>
