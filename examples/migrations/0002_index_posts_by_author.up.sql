-- pgcoro:no-transaction
-- Posts are loaded by author (User::posts) newest first. CONCURRENTLY keeps writes flowing
-- while the index builds on a live table; it cannot run inside a transaction, hence the
-- directive above. If it fails it leaves an invalid index: the IF NOT EXISTS would then skip
-- it, so drop it before running up again.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "ix_posts_author_id_created_at" ON "posts" ("author_id", "created_at");
