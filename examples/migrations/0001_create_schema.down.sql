-- create_schema: down
DROP TABLE "profiles";
DROP TABLE "posts";
DROP TABLE "users";
