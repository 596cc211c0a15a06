-- Each leg's latest (at the end: final) quality figures on the call's record, and how many
-- quality alerts the call raised.
ALTER TABLE interactions ADD COLUMN caller_mos DOUBLE PRECISION;
ALTER TABLE interactions ADD COLUMN caller_jitter_ms DOUBLE PRECISION;
ALTER TABLE interactions ADD COLUMN caller_loss DOUBLE PRECISION;
ALTER TABLE interactions ADD COLUMN caller_rtt_ms DOUBLE PRECISION;
ALTER TABLE interactions ADD COLUMN agent_mos DOUBLE PRECISION;
ALTER TABLE interactions ADD COLUMN agent_jitter_ms DOUBLE PRECISION;
ALTER TABLE interactions ADD COLUMN agent_loss DOUBLE PRECISION;
ALTER TABLE interactions ADD COLUMN agent_rtt_ms DOUBLE PRECISION;
ALTER TABLE interactions ADD COLUMN quality_alerts BIGINT NOT NULL DEFAULT 0;
