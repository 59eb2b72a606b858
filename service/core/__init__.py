"""What every part of the service shares: settings, the error envelope, metrics, middleware."""
