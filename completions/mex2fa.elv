
set edit:completion:arg-completer[mex2fa] = { |@words|
    var index = (count $words)
    set index = (- $index 1)

    put (env _CLAP_IFS="\n" _CLAP_COMPLETE_INDEX=(to-string $index) MEX2FA_COMPLETE="elvish" mex2fa -- $@words) | to-lines
}

