-- For the rest of the transaction (or until the next one of these), the current role is {role}: the write
-- of a batch's codes runs as the table's owner (write_role.sql), and the role that ran it is back after it.
SET LOCAL ROLE {role}
