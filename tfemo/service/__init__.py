"""The emotion service: FastAPI app (HTTP predict, WebSocket streaming, the browser page)."""
