-- Customers are recognised by their e-mail address too (a chat, an e-mail): the addresses
-- beside the numbers, and a lookup table of lower-cased addresses.
ALTER TABLE customers ADD COLUMN emails TEXT NOT NULL DEFAULT '[]';  -- JSON array
CREATE TABLE customer_emails (
    email    TEXT NOT NULL,
    customer TEXT NOT NULL,
    PRIMARY KEY (email, customer)
);
