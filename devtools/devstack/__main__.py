"""python -m devtools.devstack: writes .dev/stack.env and runs the Procfile with honcho until Ctrl-C."""

from __future__ import annotations

import os
import sys
import time

from devtools.devstack.environment import DEV, ROOT, build_environment, uses_real_stripe

# Variables honcho's env file must not carry (they describe this shell, not the stack).
_SKIP = ("PWD", "OLDPWD", "SHLVL", "_", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")


def main() -> int:
    env = build_environment()
    env["DEVSTACK_STARTED_AT"] = f"{time.time():.3f}"
    (ROOT / "data").mkdir(exist_ok=True)
    DEV.mkdir(exist_ok=True)
    stack_env = DEV / "stack.env"
    stack_env.write_text("".join(f"{k}={v}\n" for k, v in sorted(env.items()) if k not in _SKIP and "\n" not in v))
    stack_env.chmod(0o600)
    processes = ["profile", "billing", "gateway", "ready"]
    if uses_real_stripe(env):
        if (
            not env.get("STRIPE_WEBHOOK_SECRET", "").startswith("whsec_")
            or env["STRIPE_WEBHOOK_SECRET"] == "whsec_local_standin_secret"
        ):
            print(
                "STRIPE_SECRET_KEY is set: also set STRIPE_WEBHOOK_SECRET to the whsec_… printed by\n"
                f"  stripe listen --forward-to localhost:{env['GATEWAY_LISTEN'].rpartition(':')[2]}/v1/stripe/webhook",
                file=sys.stderr,
            )
            return 2
        print("Stripe test mode: the local stand-in is not started.")
    else:
        processes.insert(0, "stripe")
    honcho = str(ROOT / ".venv" / "bin" / "honcho")
    args = [honcho, "-f", str(ROOT / "Procfile"), "-e", str(stack_env), "-d", str(ROOT), "start", *processes]
    os.chdir(ROOT)
    os.execve(honcho, args, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
