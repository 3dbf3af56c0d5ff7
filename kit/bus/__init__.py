"""The bus: CloudEvents on Kafka, a transactional outbox and idempotent consumers."""
