# One image per service from one file:
#   docker build --target profile -t token-profile .
#   docker build --target billing -t token-billing .
#   docker build --target gateway -t token-gateway .
# Each service is stateless (state lives in Firestore and Stripe), so run as many replicas as needed.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH=/app APP_ENV=production
WORKDIR /app
COPY pyproject.toml constraints.txt ./
# Runtime dependencies only (no dev extra), pinned by constraints.txt.
RUN pip install --no-cache-dir -c constraints.txt . && rm -rf /root/.cache
COPY protos ./protos
RUN python -m grpc_tools.protoc -I protos --python_out=. --pyi_out=. --grpc_python_out=. $(find protos -name '*.proto')
# The contract constants derived from the protos (what `make proto` writes), when the generator is there.
RUN if [ -f protos/generate_contract.py ]; then python protos/generate_contract.py tokens/contract_rules.py; fi
COPY service_kit ./service_kit
RUN useradd --system --uid 10001 app
USER app

FROM base AS profile
COPY --chown=app profile_service ./profile_service
ENV PROFILE_LISTEN=0.0.0.0:50051 PROFILE_STORE=firestore
EXPOSE 50051
HEALTHCHECK --interval=10s --timeout=4s CMD python -m service_kit.health_probe 127.0.0.1:50051
CMD ["python", "-m", "profile_service"]

FROM base AS billing
COPY --chown=app billing_service ./billing_service
ENV BILLING_LISTEN=0.0.0.0:50052
EXPOSE 50052
HEALTHCHECK --interval=10s --timeout=4s CMD python -m service_kit.health_probe 127.0.0.1:50052
CMD ["python", "-m", "billing_service"]

FROM base AS gateway
COPY --chown=app gateway ./gateway
ENV GATEWAY_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=4s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=3).status != 200)"
CMD ["python", "-m", "gateway"]
