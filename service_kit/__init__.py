"""Code shared by the three services. One module per concern:

- grpc_server: build_service_server (interceptors, health, reflection, TLS) and serve_until_signalled;
- grpc_client: ServiceClient (deadline, credential, request id, TLS) and RpcCallError, its one typed error;
- health: the one gRPC health check; health_probe: its command line;
- reflection: server reflection that resolves method symbols too;
- auth: service-to-service credentials and permissions; channels: TLS/mTLS channels and server credentials;
- interceptors, rich_errors, request_context, logs, settings, timestamps, dev_credentials.
"""
