"""vangnet: durable orchestration of the regional agreement on preventing evictions."""
