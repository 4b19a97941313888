-- pgcoro:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS "ix_posts_created_at_id";
