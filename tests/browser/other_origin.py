"""A frontend on another origin, as a Next.js app on :3000 would be: a static page that signs in with the
gateway's development sign-in, buys through the compiled TypeScript client (the page's token-client.js) with
success_url and cancel_url pointing back at itself, and on its /done page asks the gateway about the session.
Its own CSP allows calls to the gateway's origin only."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

CLIENT_JS = Path(__file__).resolve().parents[2] / "gateway" / "local_dev" / "static" / "token-client.js"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="gateway" content="{gateway}"><title>Another app</title><link rel="icon" href="data:,">
<script type="module" src="/app.js"></script></head>
<body data-state="loading"><h1>Another app</h1>
<button id="buy" type="button">Buy 5 tokens</button>
<p id="result"></p><p>Balance: <span id="balance">?</span></p>
</body></html>
"""

APP_JS = """import { createTokenClient } from './token-client.js'

const gateway = document.querySelector('meta[name=gateway]').content
const KEY = 'other.idToken'

async function signIn() {
  const response = await fetch(`${gateway}/local/sign-in`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ uid: 'bob', email: 'bob@example.com' }),
  })
  const { id_token } = await response.json()
  sessionStorage.setItem(KEY, id_token)
  return id_token
}

const tokens = createTokenClient({ baseUrl: gateway, getIdToken: async () => sessionStorage.getItem(KEY) ?? signIn() })

async function main() {
  document.getElementById('buy').addEventListener('click', async () => {
    const session = await tokens.createCheckoutSession('price_onetime_5_tokens', 'payment', {
      success_url: `${location.origin}/done?session_id={CHECKOUT_SESSION_ID}`,
      cancel_url: `${location.origin}/`,
    })
    location.assign(session.url)
  })
  const sessionId = new URLSearchParams(location.search).get('session_id')
  if (location.pathname === '/done' && sessionId) {
    const result = await tokens.getCheckoutSession(sessionId)
    document.getElementById('result').textContent = `${result.status}: +${result.tokens_granted} tokens`
  }
  document.getElementById('balance').textContent = String((await tokens.getUserProfile()).tokens)
  document.body.dataset.state = 'ready'
}

main().catch((err) => {
  document.getElementById('result').textContent = `${err.name}: ${err.message}`
  document.body.dataset.state = 'error'
})
"""


def other_origin_app(gateway_url: str) -> Starlette:
    headers = {
        "Content-Security-Policy": f"default-src 'self'; img-src data:; connect-src {gateway_url}",
        "Cache-Control": "no-store",
    }

    async def page(_request: Request) -> Response:
        return Response(PAGE.format(gateway=gateway_url), media_type="text/html", headers=headers)

    async def app_js(_request: Request) -> Response:
        return Response(APP_JS, media_type="text/javascript", headers=headers)

    async def client_js(_request: Request) -> Response:
        return Response(CLIENT_JS.read_bytes(), media_type="text/javascript", headers=headers)

    return Starlette(
        routes=[
            Route("/", page),
            Route("/done", page),
            Route("/app.js", app_js),
            Route("/token-client.js", client_js),
        ]
    )
