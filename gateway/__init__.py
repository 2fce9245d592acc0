"""HTTP gateway (FastAPI) in front of the profile and billing gRPC services. ``create_app(settings)``."""
