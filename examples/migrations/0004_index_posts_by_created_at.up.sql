-- pgcoro:no-transaction
-- GET /posts pages newest first by keyset: (created_at, id) < ($1, $2) ORDER BY created_at
-- DESC, id DESC. CONCURRENTLY, like 0002, so a live table keeps taking writes.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "ix_posts_created_at_id" ON "posts" ("created_at", "id");
