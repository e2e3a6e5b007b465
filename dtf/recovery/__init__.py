"""Recovery: failure taxonomy, the escalating ladder and circuit breakers; decisions are pure."""
