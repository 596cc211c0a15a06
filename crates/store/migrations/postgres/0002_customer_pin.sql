-- The telephone-banking PIN of a customer, as an argon2 PHC string.
ALTER TABLE customers ADD COLUMN pin_hash TEXT;
