-- pgcoro:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS "ix_posts_author_id_created_at";
