-- The PostgreSQL text of 0013_report_intervals.sql: each queue's figures per 15-minute
-- interval and each agent's contacts handled per UTC day, projections kept as events are
-- appended.
CREATE TABLE queue_intervals (
    start_ns  BIGINT NOT NULL,
    queue     TEXT   NOT NULL,
    offered   BIGINT NOT NULL DEFAULT 0,
    answered  BIGINT NOT NULL DEFAULT 0,
    abandoned BIGINT NOT NULL DEFAULT 0,
    wait_ns   BIGINT NOT NULL DEFAULT 0,
    talked    BIGINT NOT NULL DEFAULT 0,
    talk_ns   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (start_ns, queue)
);
CREATE TABLE queue_interval_waits (
    start_ns BIGINT NOT NULL,
    queue    TEXT   NOT NULL,
    wait_s   BIGINT NOT NULL,
    answered BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (start_ns, queue, wait_s)
);
CREATE TABLE agent_days (
    day_ns  BIGINT NOT NULL,
    agent   TEXT   NOT NULL,
    handled BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day_ns, agent)
);
-- Filled from the interaction records already projected, as the projection code counts them
-- (interval and day starts aligned on UTC midnight, waits rounded up to whole seconds), so
-- an upgrade does not replay the whole log to build them.
INSERT INTO queue_intervals (start_ns, queue, offered, answered, abandoned, wait_ns, talked, talk_ns)
SELECT started_ns - ((started_ns % 900000000000) + 900000000000) % 900000000000 AS s, queue,
       COUNT(*),
       SUM(CASE WHEN answered_ns IS NOT NULL THEN 1 ELSE 0 END),
       SUM(CASE WHEN answered_ns IS NULL AND ended_ns IS NOT NULL
                     AND end_reason IN ('abandoned', 'caller_hangup') THEN 1 ELSE 0 END),
       SUM(CASE WHEN answered_ns IS NOT NULL THEN answered_ns - started_ns ELSE 0 END),
       SUM(CASE WHEN answered_ns IS NOT NULL AND ended_ns IS NOT NULL THEN 1 ELSE 0 END),
       SUM(CASE WHEN answered_ns IS NOT NULL AND ended_ns IS NOT NULL
                THEN ended_ns - answered_ns ELSE 0 END)
FROM interactions WHERE queue IS NOT NULL
GROUP BY started_ns - ((started_ns % 900000000000) + 900000000000) % 900000000000, queue;
INSERT INTO queue_interval_waits (start_ns, queue, wait_s, answered)
SELECT s, queue, w, COUNT(*) FROM (
    SELECT started_ns - ((started_ns % 900000000000) + 900000000000) % 900000000000 AS s, queue,
           CASE WHEN answered_ns - started_ns <= 0 THEN 0
                ELSE (answered_ns - started_ns - 1) / 1000000000 + 1 END AS w
    FROM interactions WHERE queue IS NOT NULL AND answered_ns IS NOT NULL
) AS answered_ones
GROUP BY s, queue, w;
INSERT INTO agent_days (day_ns, agent, handled)
SELECT started_ns - ((started_ns % 86400000000000) + 86400000000000) % 86400000000000 AS d, agent,
       COUNT(*)
FROM interactions WHERE answered_ns IS NOT NULL AND agent IS NOT NULL
GROUP BY started_ns - ((started_ns % 86400000000000) + 86400000000000) % 86400000000000, agent;
