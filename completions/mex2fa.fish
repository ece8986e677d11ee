# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_mex2fa_global_optspecs
    string join \n db= db-password-file= master-key-file= env-file= table= id-column= user-column= enabled-column= secret-column= issuer= busy-timeout= json q/quiet h/help V/version
end

function __fish_mex2fa_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_mex2fa_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_mex2fa_using_subcommand
    set -l cmd (__fish_mex2fa_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c mex2fa -n "__fish_mex2fa_needs_command" -l db -d 'The app\'s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)' -r -F
complete -c mex2fa -n "__fish_mex2fa_needs_command" -l db-password-file -d 'Read the database password from this file\'s first line (else MEX2FA_DB_PASSWORD)' -r -F
complete -c mex2fa -n "__fish_mex2fa_needs_command" -l master-key-file -d 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY' -r -F
complete -c mex2fa -n "__fish_mex2fa_needs_command" -l env-file -d 'Load settings from this file instead of ./.env (process environment wins)' -r -F
complete -c mex2fa -n "__fish_mex2fa_needs_command" -l table -d 'Table that holds the accounts' -r
complete -c mex2fa -n "__fish_mex2fa_needs_command" -l id-column -d 'Column with the account id' -r
complete -c mex2fa -n "__fish_mex2fa_needs_command" -l user-column -d 'Column with the username' -r
complete -c mex2fa -n "__fish_mex2fa_needs_command" -l enabled-column -d 'Column with the 2FA enabled flag (INTEGER 0/1)' -r
complete -c mex2fa -n "__fish_mex2fa_needs_command" -l secret-column -d 'Column with the Fernet-encrypted secret (BLOB or TEXT)' -r
complete -c mex2fa -n "__fish_mex2fa_needs_command" -l issuer -d 'Issuer shown in authenticator apps (the otpauth URI\'s issuer)' -r
complete -c mex2fa -n "__fish_mex2fa_needs_command" -l busy-timeout -d 'How long to wait for the app\'s write lock, in milliseconds' -r
complete -c mex2fa -n "__fish_mex2fa_needs_command" -l json -d 'Print one JSON document on stdout and nothing else there'
complete -c mex2fa -n "__fish_mex2fa_needs_command" -s q -l quiet -d 'Print only results and errors, no progress or hints'
complete -c mex2fa -n "__fish_mex2fa_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mex2fa -n "__fish_mex2fa_needs_command" -s V -l version -d 'Print version'
complete -c mex2fa -n "__fish_mex2fa_needs_command" -f -a "enroll" -d 'Start 2FA for a user: a new pending secret and its QR code'
complete -c mex2fa -n "__fish_mex2fa_needs_command" -f -a "confirm" -d 'Turn a pending enrollment into enabled 2FA, given a code from the app'
complete -c mex2fa -n "__fish_mex2fa_needs_command" -f -a "verify" -d 'Check a code as the app\'s login does: exit 0 accepted, 1 not accepted'
complete -c mex2fa -n "__fish_mex2fa_needs_command" -f -a "disable" -d 'Turn 2FA off for users (the lost-phone reset): enabled = 0, secret removed'
complete -c mex2fa -n "__fish_mex2fa_needs_command" -f -a "rotate-key" -d 'Re-encrypt every stored secret under a new master key, all or nothing'
complete -c mex2fa -n "__fish_mex2fa_needs_command" -f -a "restore" -d 'Put back the tokens saved by `rotate-key --backup`, in one transaction'
complete -c mex2fa -n "__fish_mex2fa_needs_command" -f -a "status" -d 'Show who has 2FA enabled or pending'
complete -c mex2fa -n "__fish_mex2fa_needs_command" -f -a "doctor" -d 'Check the database, the mapping, the key and every stored token'
complete -c mex2fa -n "__fish_mex2fa_needs_command" -f -a "keygen" -d 'Generate a new Fernet master key'
complete -c mex2fa -n "__fish_mex2fa_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c mex2fa -n "__fish_mex2fa_needs_command" -f -a "demo" -d 'Show every command on a throwaway database and key (touches nothing else)'
complete -c mex2fa -n "__fish_mex2fa_needs_command" -f -a "log" -d 'Show the audit log of state changes made by mex2fa'
complete -c mex2fa -n "__fish_mex2fa_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -l png -d 'Also write the QR code as a PNG image (created 0600; never overwritten)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -l svg -d 'Also write the QR code as an SVG image (created 0600; never overwritten)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -l code -d 'Confirm at once with this code from the authenticator app' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -l ttl -d 'How long the enrollment stays pending (e.g. 900, 15m, 1h)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -l db -d 'The app\'s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -l db-password-file -d 'Read the database password from this file\'s first line (else MEX2FA_DB_PASSWORD)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -l master-key-file -d 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -l env-file -d 'Load settings from this file instead of ./.env (process environment wins)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -l table -d 'Table that holds the accounts' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -l id-column -d 'Column with the account id' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -l user-column -d 'Column with the username' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -l enabled-column -d 'Column with the 2FA enabled flag (INTEGER 0/1)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -l secret-column -d 'Column with the Fernet-encrypted secret (BLOB or TEXT)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -l issuer -d 'Issuer shown in authenticator apps (the otpauth URI\'s issuer)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -l busy-timeout -d 'How long to wait for the app\'s write lock, in milliseconds' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -l force -d 'Re-enroll a user who has 2FA enabled (the old secret works until the new one is confirmed)'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -l show-secret -d 'Also print the otpauth URI and the secret'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -l no-qr -d 'Do not draw the QR code in the terminal'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -l invert -d 'Draw the QR code for a light-background terminal'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -l json -d 'Print one JSON document on stdout and nothing else there'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -s q -l quiet -d 'Print only results and errors, no progress or hints'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand enroll" -s V -l version -d 'Print version'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand confirm" -l code -d 'The 6-digit code (else asked on the terminal, or read from stdin)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand confirm" -l db -d 'The app\'s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand confirm" -l db-password-file -d 'Read the database password from this file\'s first line (else MEX2FA_DB_PASSWORD)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand confirm" -l master-key-file -d 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand confirm" -l env-file -d 'Load settings from this file instead of ./.env (process environment wins)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand confirm" -l table -d 'Table that holds the accounts' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand confirm" -l id-column -d 'Column with the account id' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand confirm" -l user-column -d 'Column with the username' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand confirm" -l enabled-column -d 'Column with the 2FA enabled flag (INTEGER 0/1)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand confirm" -l secret-column -d 'Column with the Fernet-encrypted secret (BLOB or TEXT)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand confirm" -l issuer -d 'Issuer shown in authenticator apps (the otpauth URI\'s issuer)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand confirm" -l busy-timeout -d 'How long to wait for the app\'s write lock, in milliseconds' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand confirm" -l json -d 'Print one JSON document on stdout and nothing else there'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand confirm" -s q -l quiet -d 'Print only results and errors, no progress or hints'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand confirm" -s h -l help -d 'Print help'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand confirm" -s V -l version -d 'Print version'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand verify" -l code -d 'The 6-digit code (else asked on the terminal, or read from stdin)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand verify" -l window -d 'Also accept this many 30-second steps before and after now (the app accepts 0)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand verify" -l db -d 'The app\'s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand verify" -l db-password-file -d 'Read the database password from this file\'s first line (else MEX2FA_DB_PASSWORD)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand verify" -l master-key-file -d 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand verify" -l env-file -d 'Load settings from this file instead of ./.env (process environment wins)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand verify" -l table -d 'Table that holds the accounts' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand verify" -l id-column -d 'Column with the account id' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand verify" -l user-column -d 'Column with the username' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand verify" -l enabled-column -d 'Column with the 2FA enabled flag (INTEGER 0/1)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand verify" -l secret-column -d 'Column with the Fernet-encrypted secret (BLOB or TEXT)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand verify" -l issuer -d 'Issuer shown in authenticator apps (the otpauth URI\'s issuer)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand verify" -l busy-timeout -d 'How long to wait for the app\'s write lock, in milliseconds' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand verify" -l json -d 'Print one JSON document on stdout and nothing else there'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand verify" -s q -l quiet -d 'Print only results and errors, no progress or hints'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand verify" -s h -l help -d 'Print help'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand verify" -s V -l version -d 'Print version'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand disable" -l db -d 'The app\'s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand disable" -l db-password-file -d 'Read the database password from this file\'s first line (else MEX2FA_DB_PASSWORD)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand disable" -l master-key-file -d 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand disable" -l env-file -d 'Load settings from this file instead of ./.env (process environment wins)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand disable" -l table -d 'Table that holds the accounts' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand disable" -l id-column -d 'Column with the account id' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand disable" -l user-column -d 'Column with the username' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand disable" -l enabled-column -d 'Column with the 2FA enabled flag (INTEGER 0/1)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand disable" -l secret-column -d 'Column with the Fernet-encrypted secret (BLOB or TEXT)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand disable" -l issuer -d 'Issuer shown in authenticator apps (the otpauth URI\'s issuer)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand disable" -l busy-timeout -d 'How long to wait for the app\'s write lock, in milliseconds' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand disable" -l all -d 'Every account that has 2FA enabled, a stored secret, or a pending enrollment'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand disable" -s y -l yes -d 'Do not ask for confirmation (required when there is no terminal)'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand disable" -l json -d 'Print one JSON document on stdout and nothing else there'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand disable" -s q -l quiet -d 'Print only results and errors, no progress or hints'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand disable" -s h -l help -d 'Print help'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand disable" -s V -l version -d 'Print version'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand rotate-key" -l new-key-file -d 'File holding the new Fernet key (see `mex2fa keygen --out`)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand rotate-key" -l old-key-file -d 'A further old key to decrypt with (repeatable), e.g. for stragglers' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand rotate-key" -l backup -d 'Save every old token to this file first (created 0600; never overwritten)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand rotate-key" -l db -d 'The app\'s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand rotate-key" -l db-password-file -d 'Read the database password from this file\'s first line (else MEX2FA_DB_PASSWORD)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand rotate-key" -l master-key-file -d 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand rotate-key" -l env-file -d 'Load settings from this file instead of ./.env (process environment wins)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand rotate-key" -l table -d 'Table that holds the accounts' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand rotate-key" -l id-column -d 'Column with the account id' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand rotate-key" -l user-column -d 'Column with the username' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand rotate-key" -l enabled-column -d 'Column with the 2FA enabled flag (INTEGER 0/1)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand rotate-key" -l secret-column -d 'Column with the Fernet-encrypted secret (BLOB or TEXT)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand rotate-key" -l issuer -d 'Issuer shown in authenticator apps (the otpauth URI\'s issuer)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand rotate-key" -l busy-timeout -d 'How long to wait for the app\'s write lock, in milliseconds' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand rotate-key" -l dry-run -d 'Decrypt and count everything, write nothing'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand rotate-key" -s y -l yes -d 'Do not ask for confirmation (required when there is no terminal)'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand rotate-key" -l json -d 'Print one JSON document on stdout and nothing else there'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand rotate-key" -s q -l quiet -d 'Print only results and errors, no progress or hints'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand rotate-key" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand rotate-key" -s V -l version -d 'Print version'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand restore" -l backup -d 'The backup file written by rotate-key' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand restore" -l old-key-file -d 'A further key the backup\'s tokens may be under (repeatable): a backup of a rotation that also used --old-key-file holds tokens under each' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand restore" -l db -d 'The app\'s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand restore" -l db-password-file -d 'Read the database password from this file\'s first line (else MEX2FA_DB_PASSWORD)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand restore" -l master-key-file -d 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand restore" -l env-file -d 'Load settings from this file instead of ./.env (process environment wins)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand restore" -l table -d 'Table that holds the accounts' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand restore" -l id-column -d 'Column with the account id' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand restore" -l user-column -d 'Column with the username' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand restore" -l enabled-column -d 'Column with the 2FA enabled flag (INTEGER 0/1)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand restore" -l secret-column -d 'Column with the Fernet-encrypted secret (BLOB or TEXT)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand restore" -l issuer -d 'Issuer shown in authenticator apps (the otpauth URI\'s issuer)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand restore" -l busy-timeout -d 'How long to wait for the app\'s write lock, in milliseconds' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand restore" -s y -l yes -d 'Do not ask for confirmation (required when there is no terminal)'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand restore" -l json -d 'Print one JSON document on stdout and nothing else there'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand restore" -s q -l quiet -d 'Print only results and errors, no progress or hints'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand restore" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand restore" -s V -l version -d 'Print version'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand status" -l db -d 'The app\'s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand status" -l db-password-file -d 'Read the database password from this file\'s first line (else MEX2FA_DB_PASSWORD)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand status" -l master-key-file -d 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand status" -l env-file -d 'Load settings from this file instead of ./.env (process environment wins)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand status" -l table -d 'Table that holds the accounts' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand status" -l id-column -d 'Column with the account id' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand status" -l user-column -d 'Column with the username' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand status" -l enabled-column -d 'Column with the 2FA enabled flag (INTEGER 0/1)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand status" -l secret-column -d 'Column with the Fernet-encrypted secret (BLOB or TEXT)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand status" -l issuer -d 'Issuer shown in authenticator apps (the otpauth URI\'s issuer)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand status" -l busy-timeout -d 'How long to wait for the app\'s write lock, in milliseconds' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand status" -l json -d 'Print one JSON document on stdout and nothing else there'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand status" -s q -l quiet -d 'Print only results and errors, no progress or hints'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand status" -s h -l help -d 'Print help'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand status" -s V -l version -d 'Print version'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand doctor" -l db -d 'The app\'s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand doctor" -l db-password-file -d 'Read the database password from this file\'s first line (else MEX2FA_DB_PASSWORD)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand doctor" -l master-key-file -d 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand doctor" -l env-file -d 'Load settings from this file instead of ./.env (process environment wins)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand doctor" -l table -d 'Table that holds the accounts' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand doctor" -l id-column -d 'Column with the account id' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand doctor" -l user-column -d 'Column with the username' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand doctor" -l enabled-column -d 'Column with the 2FA enabled flag (INTEGER 0/1)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand doctor" -l secret-column -d 'Column with the Fernet-encrypted secret (BLOB or TEXT)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand doctor" -l issuer -d 'Issuer shown in authenticator apps (the otpauth URI\'s issuer)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand doctor" -l busy-timeout -d 'How long to wait for the app\'s write lock, in milliseconds' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand doctor" -l fix -d 'Remove expired pending enrollments (after confirmation)'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand doctor" -s y -l yes -d 'Do not ask for confirmation with --fix'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand doctor" -l json -d 'Print one JSON document on stdout and nothing else there'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand doctor" -s q -l quiet -d 'Print only results and errors, no progress or hints'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand keygen" -l out -d 'Write the key to this file (created 0600; never overwritten) instead of stdout' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand keygen" -l db -d 'The app\'s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand keygen" -l db-password-file -d 'Read the database password from this file\'s first line (else MEX2FA_DB_PASSWORD)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand keygen" -l master-key-file -d 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand keygen" -l env-file -d 'Load settings from this file instead of ./.env (process environment wins)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand keygen" -l table -d 'Table that holds the accounts' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand keygen" -l id-column -d 'Column with the account id' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand keygen" -l user-column -d 'Column with the username' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand keygen" -l enabled-column -d 'Column with the 2FA enabled flag (INTEGER 0/1)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand keygen" -l secret-column -d 'Column with the Fernet-encrypted secret (BLOB or TEXT)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand keygen" -l issuer -d 'Issuer shown in authenticator apps (the otpauth URI\'s issuer)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand keygen" -l busy-timeout -d 'How long to wait for the app\'s write lock, in milliseconds' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand keygen" -l json -d 'Print one JSON document on stdout and nothing else there'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand keygen" -s q -l quiet -d 'Print only results and errors, no progress or hints'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand keygen" -s h -l help -d 'Print help'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand keygen" -s V -l version -d 'Print version'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand completions" -l db -d 'The app\'s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand completions" -l db-password-file -d 'Read the database password from this file\'s first line (else MEX2FA_DB_PASSWORD)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand completions" -l master-key-file -d 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand completions" -l env-file -d 'Load settings from this file instead of ./.env (process environment wins)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand completions" -l table -d 'Table that holds the accounts' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand completions" -l id-column -d 'Column with the account id' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand completions" -l user-column -d 'Column with the username' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand completions" -l enabled-column -d 'Column with the 2FA enabled flag (INTEGER 0/1)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand completions" -l secret-column -d 'Column with the Fernet-encrypted secret (BLOB or TEXT)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand completions" -l issuer -d 'Issuer shown in authenticator apps (the otpauth URI\'s issuer)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand completions" -l busy-timeout -d 'How long to wait for the app\'s write lock, in milliseconds' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand completions" -l json -d 'Print one JSON document on stdout and nothing else there'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand completions" -s q -l quiet -d 'Print only results and errors, no progress or hints'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand completions" -s h -l help -d 'Print help'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand completions" -s V -l version -d 'Print version'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand demo" -l db -d 'The app\'s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand demo" -l db-password-file -d 'Read the database password from this file\'s first line (else MEX2FA_DB_PASSWORD)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand demo" -l master-key-file -d 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand demo" -l env-file -d 'Load settings from this file instead of ./.env (process environment wins)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand demo" -l table -d 'Table that holds the accounts' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand demo" -l id-column -d 'Column with the account id' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand demo" -l user-column -d 'Column with the username' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand demo" -l enabled-column -d 'Column with the 2FA enabled flag (INTEGER 0/1)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand demo" -l secret-column -d 'Column with the Fernet-encrypted secret (BLOB or TEXT)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand demo" -l issuer -d 'Issuer shown in authenticator apps (the otpauth URI\'s issuer)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand demo" -l busy-timeout -d 'How long to wait for the app\'s write lock, in milliseconds' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand demo" -l clean -d 'Delete the demo\'s files at the end instead of leaving them to look at'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand demo" -l json -d 'Print one JSON document on stdout and nothing else there'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand demo" -s q -l quiet -d 'Print only results and errors, no progress or hints'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand demo" -s h -l help -d 'Print help'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand demo" -s V -l version -d 'Print version'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand log" -l since -d 'Only entries at or after this UTC date or time (2026-11-25 or 2026-11-25T08:00:00Z)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand log" -l limit -d 'At most this many entries, newest first' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand log" -l db -d 'The app\'s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand log" -l db-password-file -d 'Read the database password from this file\'s first line (else MEX2FA_DB_PASSWORD)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand log" -l master-key-file -d 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand log" -l env-file -d 'Load settings from this file instead of ./.env (process environment wins)' -r -F
complete -c mex2fa -n "__fish_mex2fa_using_subcommand log" -l table -d 'Table that holds the accounts' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand log" -l id-column -d 'Column with the account id' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand log" -l user-column -d 'Column with the username' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand log" -l enabled-column -d 'Column with the 2FA enabled flag (INTEGER 0/1)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand log" -l secret-column -d 'Column with the Fernet-encrypted secret (BLOB or TEXT)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand log" -l issuer -d 'Issuer shown in authenticator apps (the otpauth URI\'s issuer)' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand log" -l busy-timeout -d 'How long to wait for the app\'s write lock, in milliseconds' -r
complete -c mex2fa -n "__fish_mex2fa_using_subcommand log" -l json -d 'Print one JSON document on stdout and nothing else there'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand log" -s q -l quiet -d 'Print only results and errors, no progress or hints'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand log" -s h -l help -d 'Print help'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand log" -s V -l version -d 'Print version'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand help; and not __fish_seen_subcommand_from enroll confirm verify disable rotate-key restore status doctor keygen completions demo log help" -f -a "enroll" -d 'Start 2FA for a user: a new pending secret and its QR code'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand help; and not __fish_seen_subcommand_from enroll confirm verify disable rotate-key restore status doctor keygen completions demo log help" -f -a "confirm" -d 'Turn a pending enrollment into enabled 2FA, given a code from the app'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand help; and not __fish_seen_subcommand_from enroll confirm verify disable rotate-key restore status doctor keygen completions demo log help" -f -a "verify" -d 'Check a code as the app\'s login does: exit 0 accepted, 1 not accepted'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand help; and not __fish_seen_subcommand_from enroll confirm verify disable rotate-key restore status doctor keygen completions demo log help" -f -a "disable" -d 'Turn 2FA off for users (the lost-phone reset): enabled = 0, secret removed'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand help; and not __fish_seen_subcommand_from enroll confirm verify disable rotate-key restore status doctor keygen completions demo log help" -f -a "rotate-key" -d 'Re-encrypt every stored secret under a new master key, all or nothing'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand help; and not __fish_seen_subcommand_from enroll confirm verify disable rotate-key restore status doctor keygen completions demo log help" -f -a "restore" -d 'Put back the tokens saved by `rotate-key --backup`, in one transaction'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand help; and not __fish_seen_subcommand_from enroll confirm verify disable rotate-key restore status doctor keygen completions demo log help" -f -a "status" -d 'Show who has 2FA enabled or pending'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand help; and not __fish_seen_subcommand_from enroll confirm verify disable rotate-key restore status doctor keygen completions demo log help" -f -a "doctor" -d 'Check the database, the mapping, the key and every stored token'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand help; and not __fish_seen_subcommand_from enroll confirm verify disable rotate-key restore status doctor keygen completions demo log help" -f -a "keygen" -d 'Generate a new Fernet master key'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand help; and not __fish_seen_subcommand_from enroll confirm verify disable rotate-key restore status doctor keygen completions demo log help" -f -a "completions" -d 'Print a shell completion script'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand help; and not __fish_seen_subcommand_from enroll confirm verify disable rotate-key restore status doctor keygen completions demo log help" -f -a "demo" -d 'Show every command on a throwaway database and key (touches nothing else)'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand help; and not __fish_seen_subcommand_from enroll confirm verify disable rotate-key restore status doctor keygen completions demo log help" -f -a "log" -d 'Show the audit log of state changes made by mex2fa'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand help; and not __fish_seen_subcommand_from enroll confirm verify disable rotate-key restore status doctor keygen completions demo log help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mex2fa -n "__fish_mex2fa_using_subcommand completions" -f -a "bash elvish fish powershell zsh"
