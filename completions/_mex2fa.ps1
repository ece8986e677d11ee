
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'mex2fa' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'mex2fa'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'mex2fa' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)')
            [CompletionResult]::new('--db-password-file', '--db-password-file', [CompletionResultType]::ParameterName, 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)')
            [CompletionResult]::new('--master-key-file', '--master-key-file', [CompletionResultType]::ParameterName, 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY')
            [CompletionResult]::new('--env-file', '--env-file', [CompletionResultType]::ParameterName, 'Load settings from this file instead of ./.env (process environment wins)')
            [CompletionResult]::new('--table', '--table', [CompletionResultType]::ParameterName, 'Table that holds the accounts')
            [CompletionResult]::new('--id-column', '--id-column', [CompletionResultType]::ParameterName, 'Column with the account id')
            [CompletionResult]::new('--user-column', '--user-column', [CompletionResultType]::ParameterName, 'Column with the username')
            [CompletionResult]::new('--enabled-column', '--enabled-column', [CompletionResultType]::ParameterName, 'Column with the 2FA enabled flag (INTEGER 0/1)')
            [CompletionResult]::new('--secret-column', '--secret-column', [CompletionResultType]::ParameterName, 'Column with the Fernet-encrypted secret (BLOB or TEXT)')
            [CompletionResult]::new('--issuer', '--issuer', [CompletionResultType]::ParameterName, 'Issuer shown in authenticator apps (the otpauth URI''s issuer)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for the app''s write lock, in milliseconds')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout and nothing else there')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('enroll', 'enroll', [CompletionResultType]::ParameterValue, 'Start 2FA for a user: a new pending secret and its QR code')
            [CompletionResult]::new('confirm', 'confirm', [CompletionResultType]::ParameterValue, 'Turn a pending enrollment into enabled 2FA, given a code from the app')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check a code as the app''s login does: exit 0 accepted, 1 not accepted')
            [CompletionResult]::new('disable', 'disable', [CompletionResultType]::ParameterValue, 'Turn 2FA off for users (the lost-phone reset): enabled = 0, secret removed')
            [CompletionResult]::new('rotate-key', 'rotate-key', [CompletionResultType]::ParameterValue, 'Re-encrypt every stored secret under a new master key, all or nothing')
            [CompletionResult]::new('restore', 'restore', [CompletionResultType]::ParameterValue, 'Put back the tokens saved by `rotate-key --backup`, in one transaction')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show who has 2FA enabled or pending')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check the database, the mapping, the key and every stored token')
            [CompletionResult]::new('keygen', 'keygen', [CompletionResultType]::ParameterValue, 'Generate a new Fernet master key')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Show every command on a throwaway database and key (touches nothing else)')
            [CompletionResult]::new('log', 'log', [CompletionResultType]::ParameterValue, 'Show the audit log of state changes made by mex2fa')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mex2fa;enroll' {
            [CompletionResult]::new('--png', '--png', [CompletionResultType]::ParameterName, 'Also write the QR code as a PNG image (created 0600; never overwritten)')
            [CompletionResult]::new('--svg', '--svg', [CompletionResultType]::ParameterName, 'Also write the QR code as an SVG image (created 0600; never overwritten)')
            [CompletionResult]::new('--code', '--code', [CompletionResultType]::ParameterName, 'Confirm at once with this code from the authenticator app')
            [CompletionResult]::new('--ttl', '--ttl', [CompletionResultType]::ParameterName, 'How long the enrollment stays pending (e.g. 900, 15m, 1h)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)')
            [CompletionResult]::new('--db-password-file', '--db-password-file', [CompletionResultType]::ParameterName, 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)')
            [CompletionResult]::new('--master-key-file', '--master-key-file', [CompletionResultType]::ParameterName, 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY')
            [CompletionResult]::new('--env-file', '--env-file', [CompletionResultType]::ParameterName, 'Load settings from this file instead of ./.env (process environment wins)')
            [CompletionResult]::new('--table', '--table', [CompletionResultType]::ParameterName, 'Table that holds the accounts')
            [CompletionResult]::new('--id-column', '--id-column', [CompletionResultType]::ParameterName, 'Column with the account id')
            [CompletionResult]::new('--user-column', '--user-column', [CompletionResultType]::ParameterName, 'Column with the username')
            [CompletionResult]::new('--enabled-column', '--enabled-column', [CompletionResultType]::ParameterName, 'Column with the 2FA enabled flag (INTEGER 0/1)')
            [CompletionResult]::new('--secret-column', '--secret-column', [CompletionResultType]::ParameterName, 'Column with the Fernet-encrypted secret (BLOB or TEXT)')
            [CompletionResult]::new('--issuer', '--issuer', [CompletionResultType]::ParameterName, 'Issuer shown in authenticator apps (the otpauth URI''s issuer)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for the app''s write lock, in milliseconds')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Re-enroll a user who has 2FA enabled (the old secret works until the new one is confirmed)')
            [CompletionResult]::new('--show-secret', '--show-secret', [CompletionResultType]::ParameterName, 'Also print the otpauth URI and the secret')
            [CompletionResult]::new('--no-qr', '--no-qr', [CompletionResultType]::ParameterName, 'Do not draw the QR code in the terminal')
            [CompletionResult]::new('--invert', '--invert', [CompletionResultType]::ParameterName, 'Draw the QR code for a light-background terminal')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout and nothing else there')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mex2fa;confirm' {
            [CompletionResult]::new('--code', '--code', [CompletionResultType]::ParameterName, 'The 6-digit code (else asked on the terminal, or read from stdin)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)')
            [CompletionResult]::new('--db-password-file', '--db-password-file', [CompletionResultType]::ParameterName, 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)')
            [CompletionResult]::new('--master-key-file', '--master-key-file', [CompletionResultType]::ParameterName, 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY')
            [CompletionResult]::new('--env-file', '--env-file', [CompletionResultType]::ParameterName, 'Load settings from this file instead of ./.env (process environment wins)')
            [CompletionResult]::new('--table', '--table', [CompletionResultType]::ParameterName, 'Table that holds the accounts')
            [CompletionResult]::new('--id-column', '--id-column', [CompletionResultType]::ParameterName, 'Column with the account id')
            [CompletionResult]::new('--user-column', '--user-column', [CompletionResultType]::ParameterName, 'Column with the username')
            [CompletionResult]::new('--enabled-column', '--enabled-column', [CompletionResultType]::ParameterName, 'Column with the 2FA enabled flag (INTEGER 0/1)')
            [CompletionResult]::new('--secret-column', '--secret-column', [CompletionResultType]::ParameterName, 'Column with the Fernet-encrypted secret (BLOB or TEXT)')
            [CompletionResult]::new('--issuer', '--issuer', [CompletionResultType]::ParameterName, 'Issuer shown in authenticator apps (the otpauth URI''s issuer)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for the app''s write lock, in milliseconds')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout and nothing else there')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mex2fa;verify' {
            [CompletionResult]::new('--code', '--code', [CompletionResultType]::ParameterName, 'The 6-digit code (else asked on the terminal, or read from stdin)')
            [CompletionResult]::new('--window', '--window', [CompletionResultType]::ParameterName, 'Also accept this many 30-second steps before and after now (the app accepts 0)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)')
            [CompletionResult]::new('--db-password-file', '--db-password-file', [CompletionResultType]::ParameterName, 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)')
            [CompletionResult]::new('--master-key-file', '--master-key-file', [CompletionResultType]::ParameterName, 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY')
            [CompletionResult]::new('--env-file', '--env-file', [CompletionResultType]::ParameterName, 'Load settings from this file instead of ./.env (process environment wins)')
            [CompletionResult]::new('--table', '--table', [CompletionResultType]::ParameterName, 'Table that holds the accounts')
            [CompletionResult]::new('--id-column', '--id-column', [CompletionResultType]::ParameterName, 'Column with the account id')
            [CompletionResult]::new('--user-column', '--user-column', [CompletionResultType]::ParameterName, 'Column with the username')
            [CompletionResult]::new('--enabled-column', '--enabled-column', [CompletionResultType]::ParameterName, 'Column with the 2FA enabled flag (INTEGER 0/1)')
            [CompletionResult]::new('--secret-column', '--secret-column', [CompletionResultType]::ParameterName, 'Column with the Fernet-encrypted secret (BLOB or TEXT)')
            [CompletionResult]::new('--issuer', '--issuer', [CompletionResultType]::ParameterName, 'Issuer shown in authenticator apps (the otpauth URI''s issuer)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for the app''s write lock, in milliseconds')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout and nothing else there')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mex2fa;disable' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)')
            [CompletionResult]::new('--db-password-file', '--db-password-file', [CompletionResultType]::ParameterName, 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)')
            [CompletionResult]::new('--master-key-file', '--master-key-file', [CompletionResultType]::ParameterName, 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY')
            [CompletionResult]::new('--env-file', '--env-file', [CompletionResultType]::ParameterName, 'Load settings from this file instead of ./.env (process environment wins)')
            [CompletionResult]::new('--table', '--table', [CompletionResultType]::ParameterName, 'Table that holds the accounts')
            [CompletionResult]::new('--id-column', '--id-column', [CompletionResultType]::ParameterName, 'Column with the account id')
            [CompletionResult]::new('--user-column', '--user-column', [CompletionResultType]::ParameterName, 'Column with the username')
            [CompletionResult]::new('--enabled-column', '--enabled-column', [CompletionResultType]::ParameterName, 'Column with the 2FA enabled flag (INTEGER 0/1)')
            [CompletionResult]::new('--secret-column', '--secret-column', [CompletionResultType]::ParameterName, 'Column with the Fernet-encrypted secret (BLOB or TEXT)')
            [CompletionResult]::new('--issuer', '--issuer', [CompletionResultType]::ParameterName, 'Issuer shown in authenticator apps (the otpauth URI''s issuer)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for the app''s write lock, in milliseconds')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Every account that has 2FA enabled, a stored secret, or a pending enrollment')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (required when there is no terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (required when there is no terminal)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout and nothing else there')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mex2fa;rotate-key' {
            [CompletionResult]::new('--new-key-file', '--new-key-file', [CompletionResultType]::ParameterName, 'File holding the new Fernet key (see `mex2fa keygen --out`)')
            [CompletionResult]::new('--old-key-file', '--old-key-file', [CompletionResultType]::ParameterName, 'A further old key to decrypt with (repeatable), e.g. for stragglers')
            [CompletionResult]::new('--backup', '--backup', [CompletionResultType]::ParameterName, 'Save every old token to this file first (created 0600; never overwritten)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)')
            [CompletionResult]::new('--db-password-file', '--db-password-file', [CompletionResultType]::ParameterName, 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)')
            [CompletionResult]::new('--master-key-file', '--master-key-file', [CompletionResultType]::ParameterName, 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY')
            [CompletionResult]::new('--env-file', '--env-file', [CompletionResultType]::ParameterName, 'Load settings from this file instead of ./.env (process environment wins)')
            [CompletionResult]::new('--table', '--table', [CompletionResultType]::ParameterName, 'Table that holds the accounts')
            [CompletionResult]::new('--id-column', '--id-column', [CompletionResultType]::ParameterName, 'Column with the account id')
            [CompletionResult]::new('--user-column', '--user-column', [CompletionResultType]::ParameterName, 'Column with the username')
            [CompletionResult]::new('--enabled-column', '--enabled-column', [CompletionResultType]::ParameterName, 'Column with the 2FA enabled flag (INTEGER 0/1)')
            [CompletionResult]::new('--secret-column', '--secret-column', [CompletionResultType]::ParameterName, 'Column with the Fernet-encrypted secret (BLOB or TEXT)')
            [CompletionResult]::new('--issuer', '--issuer', [CompletionResultType]::ParameterName, 'Issuer shown in authenticator apps (the otpauth URI''s issuer)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for the app''s write lock, in milliseconds')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Decrypt and count everything, write nothing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (required when there is no terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (required when there is no terminal)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout and nothing else there')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mex2fa;restore' {
            [CompletionResult]::new('--backup', '--backup', [CompletionResultType]::ParameterName, 'The backup file written by rotate-key')
            [CompletionResult]::new('--old-key-file', '--old-key-file', [CompletionResultType]::ParameterName, 'A further key the backup''s tokens may be under (repeatable): a backup of a rotation that also used --old-key-file holds tokens under each')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)')
            [CompletionResult]::new('--db-password-file', '--db-password-file', [CompletionResultType]::ParameterName, 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)')
            [CompletionResult]::new('--master-key-file', '--master-key-file', [CompletionResultType]::ParameterName, 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY')
            [CompletionResult]::new('--env-file', '--env-file', [CompletionResultType]::ParameterName, 'Load settings from this file instead of ./.env (process environment wins)')
            [CompletionResult]::new('--table', '--table', [CompletionResultType]::ParameterName, 'Table that holds the accounts')
            [CompletionResult]::new('--id-column', '--id-column', [CompletionResultType]::ParameterName, 'Column with the account id')
            [CompletionResult]::new('--user-column', '--user-column', [CompletionResultType]::ParameterName, 'Column with the username')
            [CompletionResult]::new('--enabled-column', '--enabled-column', [CompletionResultType]::ParameterName, 'Column with the 2FA enabled flag (INTEGER 0/1)')
            [CompletionResult]::new('--secret-column', '--secret-column', [CompletionResultType]::ParameterName, 'Column with the Fernet-encrypted secret (BLOB or TEXT)')
            [CompletionResult]::new('--issuer', '--issuer', [CompletionResultType]::ParameterName, 'Issuer shown in authenticator apps (the otpauth URI''s issuer)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for the app''s write lock, in milliseconds')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (required when there is no terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (required when there is no terminal)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout and nothing else there')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mex2fa;status' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)')
            [CompletionResult]::new('--db-password-file', '--db-password-file', [CompletionResultType]::ParameterName, 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)')
            [CompletionResult]::new('--master-key-file', '--master-key-file', [CompletionResultType]::ParameterName, 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY')
            [CompletionResult]::new('--env-file', '--env-file', [CompletionResultType]::ParameterName, 'Load settings from this file instead of ./.env (process environment wins)')
            [CompletionResult]::new('--table', '--table', [CompletionResultType]::ParameterName, 'Table that holds the accounts')
            [CompletionResult]::new('--id-column', '--id-column', [CompletionResultType]::ParameterName, 'Column with the account id')
            [CompletionResult]::new('--user-column', '--user-column', [CompletionResultType]::ParameterName, 'Column with the username')
            [CompletionResult]::new('--enabled-column', '--enabled-column', [CompletionResultType]::ParameterName, 'Column with the 2FA enabled flag (INTEGER 0/1)')
            [CompletionResult]::new('--secret-column', '--secret-column', [CompletionResultType]::ParameterName, 'Column with the Fernet-encrypted secret (BLOB or TEXT)')
            [CompletionResult]::new('--issuer', '--issuer', [CompletionResultType]::ParameterName, 'Issuer shown in authenticator apps (the otpauth URI''s issuer)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for the app''s write lock, in milliseconds')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout and nothing else there')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mex2fa;doctor' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)')
            [CompletionResult]::new('--db-password-file', '--db-password-file', [CompletionResultType]::ParameterName, 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)')
            [CompletionResult]::new('--master-key-file', '--master-key-file', [CompletionResultType]::ParameterName, 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY')
            [CompletionResult]::new('--env-file', '--env-file', [CompletionResultType]::ParameterName, 'Load settings from this file instead of ./.env (process environment wins)')
            [CompletionResult]::new('--table', '--table', [CompletionResultType]::ParameterName, 'Table that holds the accounts')
            [CompletionResult]::new('--id-column', '--id-column', [CompletionResultType]::ParameterName, 'Column with the account id')
            [CompletionResult]::new('--user-column', '--user-column', [CompletionResultType]::ParameterName, 'Column with the username')
            [CompletionResult]::new('--enabled-column', '--enabled-column', [CompletionResultType]::ParameterName, 'Column with the 2FA enabled flag (INTEGER 0/1)')
            [CompletionResult]::new('--secret-column', '--secret-column', [CompletionResultType]::ParameterName, 'Column with the Fernet-encrypted secret (BLOB or TEXT)')
            [CompletionResult]::new('--issuer', '--issuer', [CompletionResultType]::ParameterName, 'Issuer shown in authenticator apps (the otpauth URI''s issuer)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for the app''s write lock, in milliseconds')
            [CompletionResult]::new('--fix', '--fix', [CompletionResultType]::ParameterName, 'Remove expired pending enrollments (after confirmation)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation with --fix')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation with --fix')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout and nothing else there')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mex2fa;keygen' {
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Write the key to this file (created 0600; never overwritten) instead of stdout')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)')
            [CompletionResult]::new('--db-password-file', '--db-password-file', [CompletionResultType]::ParameterName, 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)')
            [CompletionResult]::new('--master-key-file', '--master-key-file', [CompletionResultType]::ParameterName, 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY')
            [CompletionResult]::new('--env-file', '--env-file', [CompletionResultType]::ParameterName, 'Load settings from this file instead of ./.env (process environment wins)')
            [CompletionResult]::new('--table', '--table', [CompletionResultType]::ParameterName, 'Table that holds the accounts')
            [CompletionResult]::new('--id-column', '--id-column', [CompletionResultType]::ParameterName, 'Column with the account id')
            [CompletionResult]::new('--user-column', '--user-column', [CompletionResultType]::ParameterName, 'Column with the username')
            [CompletionResult]::new('--enabled-column', '--enabled-column', [CompletionResultType]::ParameterName, 'Column with the 2FA enabled flag (INTEGER 0/1)')
            [CompletionResult]::new('--secret-column', '--secret-column', [CompletionResultType]::ParameterName, 'Column with the Fernet-encrypted secret (BLOB or TEXT)')
            [CompletionResult]::new('--issuer', '--issuer', [CompletionResultType]::ParameterName, 'Issuer shown in authenticator apps (the otpauth URI''s issuer)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for the app''s write lock, in milliseconds')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout and nothing else there')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mex2fa;completions' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)')
            [CompletionResult]::new('--db-password-file', '--db-password-file', [CompletionResultType]::ParameterName, 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)')
            [CompletionResult]::new('--master-key-file', '--master-key-file', [CompletionResultType]::ParameterName, 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY')
            [CompletionResult]::new('--env-file', '--env-file', [CompletionResultType]::ParameterName, 'Load settings from this file instead of ./.env (process environment wins)')
            [CompletionResult]::new('--table', '--table', [CompletionResultType]::ParameterName, 'Table that holds the accounts')
            [CompletionResult]::new('--id-column', '--id-column', [CompletionResultType]::ParameterName, 'Column with the account id')
            [CompletionResult]::new('--user-column', '--user-column', [CompletionResultType]::ParameterName, 'Column with the username')
            [CompletionResult]::new('--enabled-column', '--enabled-column', [CompletionResultType]::ParameterName, 'Column with the 2FA enabled flag (INTEGER 0/1)')
            [CompletionResult]::new('--secret-column', '--secret-column', [CompletionResultType]::ParameterName, 'Column with the Fernet-encrypted secret (BLOB or TEXT)')
            [CompletionResult]::new('--issuer', '--issuer', [CompletionResultType]::ParameterName, 'Issuer shown in authenticator apps (the otpauth URI''s issuer)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for the app''s write lock, in milliseconds')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout and nothing else there')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mex2fa;demo' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)')
            [CompletionResult]::new('--db-password-file', '--db-password-file', [CompletionResultType]::ParameterName, 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)')
            [CompletionResult]::new('--master-key-file', '--master-key-file', [CompletionResultType]::ParameterName, 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY')
            [CompletionResult]::new('--env-file', '--env-file', [CompletionResultType]::ParameterName, 'Load settings from this file instead of ./.env (process environment wins)')
            [CompletionResult]::new('--table', '--table', [CompletionResultType]::ParameterName, 'Table that holds the accounts')
            [CompletionResult]::new('--id-column', '--id-column', [CompletionResultType]::ParameterName, 'Column with the account id')
            [CompletionResult]::new('--user-column', '--user-column', [CompletionResultType]::ParameterName, 'Column with the username')
            [CompletionResult]::new('--enabled-column', '--enabled-column', [CompletionResultType]::ParameterName, 'Column with the 2FA enabled flag (INTEGER 0/1)')
            [CompletionResult]::new('--secret-column', '--secret-column', [CompletionResultType]::ParameterName, 'Column with the Fernet-encrypted secret (BLOB or TEXT)')
            [CompletionResult]::new('--issuer', '--issuer', [CompletionResultType]::ParameterName, 'Issuer shown in authenticator apps (the otpauth URI''s issuer)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for the app''s write lock, in milliseconds')
            [CompletionResult]::new('--clean', '--clean', [CompletionResultType]::ParameterName, 'Delete the demo''s files at the end instead of leaving them to look at')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout and nothing else there')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mex2fa;log' {
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only entries at or after this UTC date or time (2026-11-25 or 2026-11-25T08:00:00Z)')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'At most this many entries, newest first')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The app''s database: a SQLite file (never created by mex2fa), or a postgres://USER@HOST[:PORT]/DBNAME or mysql://USER@HOST[:PORT]/DBNAME URL (mariadb:// too; a password goes in MEX2FA_DB_PASSWORD or --db-password-file, never on the command line)')
            [CompletionResult]::new('--db-password-file', '--db-password-file', [CompletionResultType]::ParameterName, 'Read the database password from this file''s first line (else MEX2FA_DB_PASSWORD)')
            [CompletionResult]::new('--master-key-file', '--master-key-file', [CompletionResultType]::ParameterName, 'Read the Fernet master key from this file instead of TWOFA_MASTER_KEY')
            [CompletionResult]::new('--env-file', '--env-file', [CompletionResultType]::ParameterName, 'Load settings from this file instead of ./.env (process environment wins)')
            [CompletionResult]::new('--table', '--table', [CompletionResultType]::ParameterName, 'Table that holds the accounts')
            [CompletionResult]::new('--id-column', '--id-column', [CompletionResultType]::ParameterName, 'Column with the account id')
            [CompletionResult]::new('--user-column', '--user-column', [CompletionResultType]::ParameterName, 'Column with the username')
            [CompletionResult]::new('--enabled-column', '--enabled-column', [CompletionResultType]::ParameterName, 'Column with the 2FA enabled flag (INTEGER 0/1)')
            [CompletionResult]::new('--secret-column', '--secret-column', [CompletionResultType]::ParameterName, 'Column with the Fernet-encrypted secret (BLOB or TEXT)')
            [CompletionResult]::new('--issuer', '--issuer', [CompletionResultType]::ParameterName, 'Issuer shown in authenticator apps (the otpauth URI''s issuer)')
            [CompletionResult]::new('--busy-timeout', '--busy-timeout', [CompletionResultType]::ParameterName, 'How long to wait for the app''s write lock, in milliseconds')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON document on stdout and nothing else there')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only results and errors, no progress or hints')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'mex2fa;help' {
            [CompletionResult]::new('enroll', 'enroll', [CompletionResultType]::ParameterValue, 'Start 2FA for a user: a new pending secret and its QR code')
            [CompletionResult]::new('confirm', 'confirm', [CompletionResultType]::ParameterValue, 'Turn a pending enrollment into enabled 2FA, given a code from the app')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check a code as the app''s login does: exit 0 accepted, 1 not accepted')
            [CompletionResult]::new('disable', 'disable', [CompletionResultType]::ParameterValue, 'Turn 2FA off for users (the lost-phone reset): enabled = 0, secret removed')
            [CompletionResult]::new('rotate-key', 'rotate-key', [CompletionResultType]::ParameterValue, 'Re-encrypt every stored secret under a new master key, all or nothing')
            [CompletionResult]::new('restore', 'restore', [CompletionResultType]::ParameterValue, 'Put back the tokens saved by `rotate-key --backup`, in one transaction')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show who has 2FA enabled or pending')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check the database, the mapping, the key and every stored token')
            [CompletionResult]::new('keygen', 'keygen', [CompletionResultType]::ParameterValue, 'Generate a new Fernet master key')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Show every command on a throwaway database and key (touches nothing else)')
            [CompletionResult]::new('log', 'log', [CompletionResultType]::ParameterValue, 'Show the audit log of state changes made by mex2fa')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mex2fa;help;enroll' {
            break
        }
        'mex2fa;help;confirm' {
            break
        }
        'mex2fa;help;verify' {
            break
        }
        'mex2fa;help;disable' {
            break
        }
        'mex2fa;help;rotate-key' {
            break
        }
        'mex2fa;help;restore' {
            break
        }
        'mex2fa;help;status' {
            break
        }
        'mex2fa;help;doctor' {
            break
        }
        'mex2fa;help;keygen' {
            break
        }
        'mex2fa;help;completions' {
            break
        }
        'mex2fa;help;demo' {
            break
        }
        'mex2fa;help;log' {
            break
        }
        'mex2fa;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
