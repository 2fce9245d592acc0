// The frontend's model types (frontend/nextjs/api/types/models.ts), as the gateway serves them.
// Field names are the original's (snake_case JSON). tests/gateway/test_contract.py generates types from the
// gateway's /openapi.json with openapi-typescript and checks them against these with tsc (check.ts).

// Ledger entry kinds, lowercase. The original only knew 'purchase'.
export type TokenTransactionType =
  | 'purchase'
  | 'promotional'
  | 'refund_reversal'
  | 'adjustment'
  | 'spend'
  | 'refund'
  | 'expiry'
  | 'allowance'
  | 'hold'
  | 'hold_release'
  | 'unspecified'

export interface UserProfileData {
  uid: string
  email: string
  // Timestamps are ISO-8601 strings (UTC), null when never set.
  created_at: string | null
  last_login: string | null
  stripe_customer_id: string | null
  has_access: boolean
  one_time_purchase: boolean
  tokens: number
  purchase_date: string | null
  product_id: string | null
  price_id: string | null
  subscription_status: string | null
  current_period_end: string | null
  display_name: string | null
  // Beyond the original: the parts of the balance. tokens = available_tokens + held_tokens.
  available_tokens: number
  held_tokens: number
  // Owed after a refund of tokens already spent; the next purchases settle it first.
  debt: number
  // The soonest expiry among the user's grants (0 and null when nothing expires).
  next_expiry_amount: number
  next_expiry_time: string | null
}

export interface TokenTransaction {
  // Signed: positive for grants, negative for spends and refunds.
  amount: number
  type: TokenTransactionType
  // ISO-8601 string. The original declared `Date`, which JSON never delivers: use `new Date(t.timestamp)`.
  timestamp: string
  balance_after: number
  entry_id: string
  reason?: string | null
  source?: Record<string, string>
}

// What the browser may change about its own profile. No `tokens` and no `one_time_purchase` (defect 5 of the
// original: the browser could set its own balance); the gateway refuses them with reason READ_ONLY_FIELD.
export interface UserDataUpdate {
  display_name?: string | null
}
