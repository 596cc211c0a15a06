-- Secrets the nodes of a centre share, made once, when the database is brought to this
-- version. `api_tokens` signs the API's bearer tokens, so that a token one node issued is
-- honoured by the other after a failover, and by the same node after a restart.
CREATE TABLE secrets (
    name  TEXT  PRIMARY KEY,
    value BYTEA NOT NULL
);
-- gen_random_uuid() draws from the server's strong random source (built in since
-- PostgreSQL 13): two of them, less their version and variant bits, give 244 random bits.
INSERT INTO secrets (name, value)
VALUES ('api_tokens', decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));
