-- Each leg's latest (at the end: final) quality figures on the call's record, and how many
-- quality alerts the call raised.
ALTER TABLE interactions ADD COLUMN caller_mos REAL;
ALTER TABLE interactions ADD COLUMN caller_jitter_ms REAL;
ALTER TABLE interactions ADD COLUMN caller_loss REAL;
ALTER TABLE interactions ADD COLUMN caller_rtt_ms REAL;
ALTER TABLE interactions ADD COLUMN agent_mos REAL;
ALTER TABLE interactions ADD COLUMN agent_jitter_ms REAL;
ALTER TABLE interactions ADD COLUMN agent_loss REAL;
ALTER TABLE interactions ADD COLUMN agent_rtt_ms REAL;
ALTER TABLE interactions ADD COLUMN quality_alerts INTEGER NOT NULL DEFAULT 0;
