"""Code shared by the three services: gRPC server bootstrap, rich errors, request logging, auth."""
