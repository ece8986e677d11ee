complete --keep-order --exclusive --command mex2fa --arguments "(MEX2FA_COMPLETE=fish mex2fa -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
