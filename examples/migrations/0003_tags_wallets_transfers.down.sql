-- tags_wallets_transfers: down
DROP TABLE "transfers";
DROP TABLE "wallets";
DROP TABLE "post_tags";
DROP TABLE "tags";
