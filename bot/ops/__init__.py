"""What an operator's tools read: health checks and Prometheus metrics on the bot's HTTP server."""
