# Completes one command line in a real interactive zsh and prints the
# candidates, one a line. Used by tests/it/completions.rs.
#
# usage: zsh -f zsh-complete.zsh FPATH_DIR 'mex2fa en'
#
# zsh completes only inside the line editor, which needs a terminal: the
# zsh/zpty module runs an interactive zsh on a pseudo-terminal, loads compinit
# with FPATH_DIR first in $fpath (so `_mex2fa` is found through its #compdef
# line, as an installed file would be), wraps compadd to print every candidate
# it is given ("M:" prefix), types the line and a TAB, and reads until the
# marker printed after the completion functions ran.
#
# The lines typed into the pty come back twice (the terminal's echo of
# typeahead, then the line editor's own redraw, in no fixed order), so no
# marker appears literally in a typed line: "M"":" prints M:, RE""ADY prints
# READY, and so on.
zmodload zsh/zpty || exit 3
dir=$1 line=$2
zpty z zsh -f -i
zpty -w z "PS1= PROMPT= RPROMPT=; fpath=(${(q)dir} \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z 'zstyle ":completion:*" list-grouped false; zstyle ":completion:*" insert-tab false'
# Calls that only compute matches into arrays (-O/-A/-D) are passed through.
zpty -w z 'compadd() { if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi; local -a __m; builtin compadd -O __m "$@"; (( $#__m )) && print -rl -- "M"":"${^__m}; builtin compadd "$@"; }'
zpty -w z 'comppostfuncs=(__done); __done() { print -r -- "END-OF""-COMPLETION"; }'
zpty -w z 'bindkey "^I" complete-word; print -r -- RE""ADY'
while zpty -r z out; do [[ $out == *READY* ]] && break; done
zpty -w -n z "$line"$'\t'
while zpty -r z out; do
  [[ $out == *END-OF-COMPLETION* ]] && break
  [[ $out == *M:* ]] || continue
  # The echo of the typed line may precede the first candidate.
  out=${out##*M:}; out=${out%$'\n'}; out=${out%$'\r'}
  print -r -- $out
done
zpty -d z
