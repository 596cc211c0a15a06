-- Secrets the nodes of a centre share, made once, when the database is brought to this
-- version. `api_tokens` signs the API's bearer tokens, so that a token one node issued is
-- honoured by the other after a failover, and by the same node after a restart.
CREATE TABLE secrets (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
INSERT INTO secrets (name, value) VALUES ('api_tokens', randomblob(32));
