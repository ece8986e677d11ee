
use builtin;
use str;

set edit:completion:arg-completer[mex2fa] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'mex2fa'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'mex2fa'= {
            cand --db 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)'
            cand --db-password-file 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)'
            cand --master-key-file 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY'
            cand --env-file 'Load settings from this file instead of ./.env (process environment wins)'
            cand --table 'Table that holds the accounts'
            cand --id-column 'Column with the account id'
            cand --user-column 'Column with the username'
            cand --enabled-column 'Column with the 2FA enabled flag (INTEGER 0/1)'
            cand --secret-column 'Column with the Fernet-encrypted secret (BLOB or TEXT)'
            cand --issuer 'Issuer shown in authenticator apps (the otpauth URI''s issuer)'
            cand --busy-timeout 'How long to wait for the app''s write lock, in milliseconds'
            cand --json 'Print one JSON document on stdout and nothing else there'
            cand -q 'Print only results and errors, no progress or hints'
            cand --quiet 'Print only results and errors, no progress or hints'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand enroll 'Start 2FA for a user: a new pending secret and its QR code'
            cand confirm 'Turn a pending enrollment into enabled 2FA, given a code from the app'
            cand verify 'Check a code as the app''s login does: exit 0 accepted, 1 not accepted'
            cand disable 'Turn 2FA off for users (the lost-phone reset): enabled = 0, secret removed'
            cand rotate-key 'Re-encrypt every stored secret under a new master key, all or nothing'
            cand restore 'Put back the tokens saved by `rotate-key --backup`, in one transaction'
            cand status 'Show who has 2FA enabled or pending'
            cand doctor 'Check the database, the mapping, the key and every stored token'
            cand keygen 'Generate a new Fernet master key'
            cand completions 'Print a shell completion script'
            cand demo 'Show every command on a throwaway database and key (touches nothing else)'
            cand log 'Show the audit log of state changes made by mex2fa'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mex2fa;enroll'= {
            cand --png 'Also write the QR code as a PNG image (created 0600; never overwritten)'
            cand --svg 'Also write the QR code as an SVG image (created 0600; never overwritten)'
            cand --code 'Confirm at once with this code from the authenticator app'
            cand --ttl 'How long the enrollment stays pending (e.g. 900, 15m, 1h)'
            cand --db 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)'
            cand --db-password-file 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)'
            cand --master-key-file 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY'
            cand --env-file 'Load settings from this file instead of ./.env (process environment wins)'
            cand --table 'Table that holds the accounts'
            cand --id-column 'Column with the account id'
            cand --user-column 'Column with the username'
            cand --enabled-column 'Column with the 2FA enabled flag (INTEGER 0/1)'
            cand --secret-column 'Column with the Fernet-encrypted secret (BLOB or TEXT)'
            cand --issuer 'Issuer shown in authenticator apps (the otpauth URI''s issuer)'
            cand --busy-timeout 'How long to wait for the app''s write lock, in milliseconds'
            cand --force 'Re-enroll a user who has 2FA enabled (the old secret works until the new one is confirmed)'
            cand --show-secret 'Also print the otpauth URI and the secret'
            cand --no-qr 'Do not draw the QR code in the terminal'
            cand --invert 'Draw the QR code for a light-background terminal'
            cand --json 'Print one JSON document on stdout and nothing else there'
            cand -q 'Print only results and errors, no progress or hints'
            cand --quiet 'Print only results and errors, no progress or hints'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mex2fa;confirm'= {
            cand --code 'The 6-digit code (else asked on the terminal, or read from stdin)'
            cand --db 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)'
            cand --db-password-file 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)'
            cand --master-key-file 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY'
            cand --env-file 'Load settings from this file instead of ./.env (process environment wins)'
            cand --table 'Table that holds the accounts'
            cand --id-column 'Column with the account id'
            cand --user-column 'Column with the username'
            cand --enabled-column 'Column with the 2FA enabled flag (INTEGER 0/1)'
            cand --secret-column 'Column with the Fernet-encrypted secret (BLOB or TEXT)'
            cand --issuer 'Issuer shown in authenticator apps (the otpauth URI''s issuer)'
            cand --busy-timeout 'How long to wait for the app''s write lock, in milliseconds'
            cand --json 'Print one JSON document on stdout and nothing else there'
            cand -q 'Print only results and errors, no progress or hints'
            cand --quiet 'Print only results and errors, no progress or hints'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mex2fa;verify'= {
            cand --code 'The 6-digit code (else asked on the terminal, or read from stdin)'
            cand --window 'Also accept this many 30-second steps before and after now (the app accepts 0)'
            cand --db 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)'
            cand --db-password-file 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)'
            cand --master-key-file 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY'
            cand --env-file 'Load settings from this file instead of ./.env (process environment wins)'
            cand --table 'Table that holds the accounts'
            cand --id-column 'Column with the account id'
            cand --user-column 'Column with the username'
            cand --enabled-column 'Column with the 2FA enabled flag (INTEGER 0/1)'
            cand --secret-column 'Column with the Fernet-encrypted secret (BLOB or TEXT)'
            cand --issuer 'Issuer shown in authenticator apps (the otpauth URI''s issuer)'
            cand --busy-timeout 'How long to wait for the app''s write lock, in milliseconds'
            cand --json 'Print one JSON document on stdout and nothing else there'
            cand -q 'Print only results and errors, no progress or hints'
            cand --quiet 'Print only results and errors, no progress or hints'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mex2fa;disable'= {
            cand --db 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)'
            cand --db-password-file 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)'
            cand --master-key-file 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY'
            cand --env-file 'Load settings from this file instead of ./.env (process environment wins)'
            cand --table 'Table that holds the accounts'
            cand --id-column 'Column with the account id'
            cand --user-column 'Column with the username'
            cand --enabled-column 'Column with the 2FA enabled flag (INTEGER 0/1)'
            cand --secret-column 'Column with the Fernet-encrypted secret (BLOB or TEXT)'
            cand --issuer 'Issuer shown in authenticator apps (the otpauth URI''s issuer)'
            cand --busy-timeout 'How long to wait for the app''s write lock, in milliseconds'
            cand --all 'Every account that has 2FA enabled, a stored secret, or a pending enrollment'
            cand -y 'Do not ask for confirmation (required when there is no terminal)'
            cand --yes 'Do not ask for confirmation (required when there is no terminal)'
            cand --json 'Print one JSON document on stdout and nothing else there'
            cand -q 'Print only results and errors, no progress or hints'
            cand --quiet 'Print only results and errors, no progress or hints'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mex2fa;rotate-key'= {
            cand --new-key-file 'File holding the new Fernet key (see `mex2fa keygen --out`)'
            cand --old-key-file 'A further old key to decrypt with (repeatable), e.g. for stragglers'
            cand --backup 'Save every old token to this file first (created 0600; never overwritten)'
            cand --db 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)'
            cand --db-password-file 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)'
            cand --master-key-file 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY'
            cand --env-file 'Load settings from this file instead of ./.env (process environment wins)'
            cand --table 'Table that holds the accounts'
            cand --id-column 'Column with the account id'
            cand --user-column 'Column with the username'
            cand --enabled-column 'Column with the 2FA enabled flag (INTEGER 0/1)'
            cand --secret-column 'Column with the Fernet-encrypted secret (BLOB or TEXT)'
            cand --issuer 'Issuer shown in authenticator apps (the otpauth URI''s issuer)'
            cand --busy-timeout 'How long to wait for the app''s write lock, in milliseconds'
            cand --dry-run 'Decrypt and count everything, write nothing'
            cand -y 'Do not ask for confirmation (required when there is no terminal)'
            cand --yes 'Do not ask for confirmation (required when there is no terminal)'
            cand --json 'Print one JSON document on stdout and nothing else there'
            cand -q 'Print only results and errors, no progress or hints'
            cand --quiet 'Print only results and errors, no progress or hints'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mex2fa;restore'= {
            cand --backup 'The backup file written by rotate-key'
            cand --old-key-file 'A further key the backup''s tokens may be under (repeatable): a backup of a rotation that also used --old-key-file holds tokens under each'
            cand --db 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)'
            cand --db-password-file 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)'
            cand --master-key-file 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY'
            cand --env-file 'Load settings from this file instead of ./.env (process environment wins)'
            cand --table 'Table that holds the accounts'
            cand --id-column 'Column with the account id'
            cand --user-column 'Column with the username'
            cand --enabled-column 'Column with the 2FA enabled flag (INTEGER 0/1)'
            cand --secret-column 'Column with the Fernet-encrypted secret (BLOB or TEXT)'
            cand --issuer 'Issuer shown in authenticator apps (the otpauth URI''s issuer)'
            cand --busy-timeout 'How long to wait for the app''s write lock, in milliseconds'
            cand -y 'Do not ask for confirmation (required when there is no terminal)'
            cand --yes 'Do not ask for confirmation (required when there is no terminal)'
            cand --json 'Print one JSON document on stdout and nothing else there'
            cand -q 'Print only results and errors, no progress or hints'
            cand --quiet 'Print only results and errors, no progress or hints'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mex2fa;status'= {
            cand --db 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)'
            cand --db-password-file 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)'
            cand --master-key-file 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY'
            cand --env-file 'Load settings from this file instead of ./.env (process environment wins)'
            cand --table 'Table that holds the accounts'
            cand --id-column 'Column with the account id'
            cand --user-column 'Column with the username'
            cand --enabled-column 'Column with the 2FA enabled flag (INTEGER 0/1)'
            cand --secret-column 'Column with the Fernet-encrypted secret (BLOB or TEXT)'
            cand --issuer 'Issuer shown in authenticator apps (the otpauth URI''s issuer)'
            cand --busy-timeout 'How long to wait for the app''s write lock, in milliseconds'
            cand --json 'Print one JSON document on stdout and nothing else there'
            cand -q 'Print only results and errors, no progress or hints'
            cand --quiet 'Print only results and errors, no progress or hints'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mex2fa;doctor'= {
            cand --db 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)'
            cand --db-password-file 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)'
            cand --master-key-file 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY'
            cand --env-file 'Load settings from this file instead of ./.env (process environment wins)'
            cand --table 'Table that holds the accounts'
            cand --id-column 'Column with the account id'
            cand --user-column 'Column with the username'
            cand --enabled-column 'Column with the 2FA enabled flag (INTEGER 0/1)'
            cand --secret-column 'Column with the Fernet-encrypted secret (BLOB or TEXT)'
            cand --issuer 'Issuer shown in authenticator apps (the otpauth URI''s issuer)'
            cand --busy-timeout 'How long to wait for the app''s write lock, in milliseconds'
            cand --fix 'Remove expired pending enrollments (after confirmation)'
            cand -y 'Do not ask for confirmation with --fix'
            cand --yes 'Do not ask for confirmation with --fix'
            cand --json 'Print one JSON document on stdout and nothing else there'
            cand -q 'Print only results and errors, no progress or hints'
            cand --quiet 'Print only results and errors, no progress or hints'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mex2fa;keygen'= {
            cand --out 'Write the key to this file (created 0600; never overwritten) instead of stdout'
            cand --db 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)'
            cand --db-password-file 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)'
            cand --master-key-file 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY'
            cand --env-file 'Load settings from this file instead of ./.env (process environment wins)'
            cand --table 'Table that holds the accounts'
            cand --id-column 'Column with the account id'
            cand --user-column 'Column with the username'
            cand --enabled-column 'Column with the 2FA enabled flag (INTEGER 0/1)'
            cand --secret-column 'Column with the Fernet-encrypted secret (BLOB or TEXT)'
            cand --issuer 'Issuer shown in authenticator apps (the otpauth URI''s issuer)'
            cand --busy-timeout 'How long to wait for the app''s write lock, in milliseconds'
            cand --json 'Print one JSON document on stdout and nothing else there'
            cand -q 'Print only results and errors, no progress or hints'
            cand --quiet 'Print only results and errors, no progress or hints'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mex2fa;completions'= {
            cand --db 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)'
            cand --db-password-file 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)'
            cand --master-key-file 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY'
            cand --env-file 'Load settings from this file instead of ./.env (process environment wins)'
            cand --table 'Table that holds the accounts'
            cand --id-column 'Column with the account id'
            cand --user-column 'Column with the username'
            cand --enabled-column 'Column with the 2FA enabled flag (INTEGER 0/1)'
            cand --secret-column 'Column with the Fernet-encrypted secret (BLOB or TEXT)'
            cand --issuer 'Issuer shown in authenticator apps (the otpauth URI''s issuer)'
            cand --busy-timeout 'How long to wait for the app''s write lock, in milliseconds'
            cand --json 'Print one JSON document on stdout and nothing else there'
            cand -q 'Print only results and errors, no progress or hints'
            cand --quiet 'Print only results and errors, no progress or hints'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mex2fa;demo'= {
            cand --db 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)'
            cand --db-password-file 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)'
            cand --master-key-file 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY'
            cand --env-file 'Load settings from this file instead of ./.env (process environment wins)'
            cand --table 'Table that holds the accounts'
            cand --id-column 'Column with the account id'
            cand --user-column 'Column with the username'
            cand --enabled-column 'Column with the 2FA enabled flag (INTEGER 0/1)'
            cand --secret-column 'Column with the Fernet-encrypted secret (BLOB or TEXT)'
            cand --issuer 'Issuer shown in authenticator apps (the otpauth URI''s issuer)'
            cand --busy-timeout 'How long to wait for the app''s write lock, in milliseconds'
            cand --clean 'Delete the demo''s files at the end instead of leaving them to look at'
            cand --json 'Print one JSON document on stdout and nothing else there'
            cand -q 'Print only results and errors, no progress or hints'
            cand --quiet 'Print only results and errors, no progress or hints'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mex2fa;log'= {
            cand --since 'Only entries at or after this UTC date or time (2026-11-25 or 2026-11-25T08:00:00Z)'
            cand --limit 'At most this many entries, newest first'
            cand --db 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)'
            cand --db-password-file 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)'
            cand --master-key-file 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY'
            cand --env-file 'Load settings from this file instead of ./.env (process environment wins)'
            cand --table 'Table that holds the accounts'
            cand --id-column 'Column with the account id'
            cand --user-column 'Column with the username'
            cand --enabled-column 'Column with the 2FA enabled flag (INTEGER 0/1)'
            cand --secret-column 'Column with the Fernet-encrypted secret (BLOB or TEXT)'
            cand --issuer 'Issuer shown in authenticator apps (the otpauth URI''s issuer)'
            cand --busy-timeout 'How long to wait for the app''s write lock, in milliseconds'
            cand --json 'Print one JSON document on stdout and nothing else there'
            cand -q 'Print only results and errors, no progress or hints'
            cand --quiet 'Print only results and errors, no progress or hints'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'mex2fa;help'= {
            cand enroll 'Start 2FA for a user: a new pending secret and its QR code'
            cand confirm 'Turn a pending enrollment into enabled 2FA, given a code from the app'
            cand verify 'Check a code as the app''s login does: exit 0 accepted, 1 not accepted'
            cand disable 'Turn 2FA off for users (the lost-phone reset): enabled = 0, secret removed'
            cand rotate-key 'Re-encrypt every stored secret under a new master key, all or nothing'
            cand restore 'Put back the tokens saved by `rotate-key --backup`, in one transaction'
            cand status 'Show who has 2FA enabled or pending'
            cand doctor 'Check the database, the mapping, the key and every stored token'
            cand keygen 'Generate a new Fernet master key'
            cand completions 'Print a shell completion script'
            cand demo 'Show every command on a throwaway database and key (touches nothing else)'
            cand log 'Show the audit log of state changes made by mex2fa'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mex2fa;help;enroll'= {
        }
        &'mex2fa;help;confirm'= {
        }
        &'mex2fa;help;verify'= {
        }
        &'mex2fa;help;disable'= {
        }
        &'mex2fa;help;rotate-key'= {
        }
        &'mex2fa;help;restore'= {
        }
        &'mex2fa;help;status'= {
        }
        &'mex2fa;help;doctor'= {
        }
        &'mex2fa;help;keygen'= {
        }
        &'mex2fa;help;completions'= {
        }
        &'mex2fa;help;demo'= {
        }
        &'mex2fa;help;log'= {
        }
        &'mex2fa;help;help'= {
        }
    ]
    $completions[$command]
}
