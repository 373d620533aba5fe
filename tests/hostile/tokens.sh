# tests/hostile/tokens.sh: build the tokens of tests/hostile/corpus/token/
# by hand: any header, any claims, signed with the home's key, another
# key, an RSA or EC key, or not at all, or tampered after signing.
#
# A token case file:
#   # what: one line
#   # group: bad-input | attack | control
#   # expect: deny admission | allow | decided
#   # header: JOSE header JSON (verbatim)
#   # sign: key | none | other | empty | rsapub | rs256 | es256 | hs384 |
#           hs512 | swap | swap-header | sig-truncate | sig-other-token |
#           sig-append | sig-std | pad-payload | raw
#   # signed: the payload that was signed (swap; default: a valid one)
#   # repeat: N (send the frame N times)
#   --
#   the payload JSON, or the whole token for "raw"; placeholders @NOW@
#   @EXP@ (now + 600) @PAST@ (now - 3600) @FUTURE@ (now + 3600) @EDGE@
#   (expired just past the leeway) @JTI@ (unique) @ISS@ @AUD@ @VALID@ (a
#   valid token) @VALIDSPACE@ (a valid token with a space inside)
# SPDX-License-Identifier: MIT

TOKEN_ISS=https://issuer.countersign.test
TOKEN_AUD=countersignd
TOKEN_LEEWAY=30
TOKEN_HOME_CONFIG='{"socket_mode":"0666","operators":["root","nobody"],"issuer":"'$TOKEN_ISS'","audience":"'$TOKEN_AUD'","leeway_s":'$TOKEN_LEEWAY'}'
TOKEN_STD_HEADER='{"alg":"HS256","typ":"JWT"}'

# token_setup HOME: keys for HOME's token cases.
token_setup() {
	TK=$TEST_TMP/tokkeys
	mkdir -p "$TK"
	home_key "$1" "$TK/key"
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TK/other"
	: >"$TK/empty"
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	    -out "$TK/rsa.pem" 2>/dev/null || fail "openssl: RSA key"
	openssl pkey -in "$TK/rsa.pem" -pubout -out "$TK/rsa.pub" 2>/dev/null ||
		fail "openssl: RSA public key"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$TK/ec.pem" 2>/dev/null || fail "openssl: EC key"
	TOKEN_VALID=$(token_build "$TOKEN_STD_HEADER" \
	    "$(token_payload '{"iss":"@ISS@","aud":"@AUD@","sub":"alice","act":{"sub":"probe"},"scope":"tool:fs.*","exp":@EXP@,"iat":@NOW@,"jti":"valid-@JTI@"}')" key)
}

# token_payload TEMPLATE: the template with its placeholders filled in.
token_payload() {
	local now valid=${TOKEN_VALID-}
	now=$(date +%s)
	printf '%s\n' "--" "$1" >"$TEST_TMP/.tpl"
	"$TOOLS/hostile_peer" render "$TEST_TMP/.tpl" "$TEST_TMP/.payload" \
	    NOW="$now" EXP=$((now + 600)) PAST=$((now - 3600)) \
	    FUTURE=$((now + 3600)) EDGE=$((now - TOKEN_LEEWAY - 5)) \
	    JTI="j-$RANDOM$RANDOM-$BASHPID" ISS="$TOKEN_ISS" AUD="$TOKEN_AUD" \
	    VALID="$valid" VALIDSPACE="${valid:0:20} ${valid:20}" ||
		fail "cannot render a token template"
	cat "$TEST_TMP/.payload"
}

# token_build HEADER PAYLOAD SIGN: a compact JWT.
token_build() {
	local head body sig="" input
	head=$(printf '%s' "$1" | b64url)
	body=$(printf '%s' "$2" | b64url)
	input="$head.$body"
	case $3 in
	key) sig=$(printf '%s' "$input" | sign_hs sha256 "$TK/key") ;;
	other) sig=$(printf '%s' "$input" | sign_hs sha256 "$TK/other") ;;
	empty) sig=$(printf '%s' "$input" | sign_hs sha256 "$TK/empty") ;;
	rsapub) sig=$(printf '%s' "$input" | sign_hs sha256 "$TK/rsa.pub") ;;
	hs384) sig=$(printf '%s' "$input" | sign_hs sha384 "$TK/key") ;;
	hs512) sig=$(printf '%s' "$input" | sign_hs sha512 "$TK/key") ;;
	rs256)
		sig=$(printf '%s' "$input" |
		    openssl dgst -sha256 -sign "$TK/rsa.pem" -binary | b64url)
		;;
	es256)
		sig=$(printf '%s' "$input" |
		    openssl dgst -sha256 -sign "$TK/ec.pem" -binary | b64url)
		;;
	none) sig="" ;;
	*) fail "token_build: unknown signing $3" ;;
	esac
	printf '%s.%s\n' "$input" "$sig"
}

# token_case FILE: the token a case file describes.
token_case() {
	local c=$1 header sign signed payload tok head body sig std
	header=$(sed -n '/^--$/q; s/^# header: //p' "$c")
	sign=$(sed -n '/^--$/q; s/^# sign: //p' "$c")
	signed=$(sed -n '/^--$/q; s/^# signed: //p' "$c")
	payload=$(token_payload "$(sed '1,/^--$/d' "$c")")
	case $sign in
	raw)
		printf '%s\n' "$payload"
		;;
	swap)
		# sign one payload, send another under its signature
		[ -n "$signed" ] ||
			signed='{"iss":"@ISS@","aud":"@AUD@","sub":"alice","act":{"sub":"probe"},"scope":"tool:fs.* tool:ops.* tool:vault.*","exp":@EXP@,"iat":@NOW@,"jti":"@JTI@"}'
		tok=$(token_build "$header" "$(token_payload "$signed")" key)
		body=$(printf '%s' "$payload" | b64url)
		printf '%s.%s.%s\n' "${tok%%.*}" "$body" "${tok##*.}"
		;;
	swap-header)
		tok=$(token_build "$TOKEN_STD_HEADER" "$payload" key)
		head=$(printf '%s' "$header" | b64url)
		printf '%s.%s\n' "$head" "${tok#*.}"
		;;
	sig-truncate)
		tok=$(token_build "$header" "$payload" key)
		printf '%s\n' "${tok:0:$((${#tok} - 5))}"
		;;
	sig-other-token)
		tok=$(token_build "$header" "$payload" key)
		printf '%s.%s\n' "${tok%.*}" "${TOKEN_VALID##*.}"
		;;
	sig-append)
		tok=$(token_build "$header" "$payload" key)
		printf '%sAAAA\n' "$tok"
		;;
	sig-std)
		tok=$(token_build "$header" "$payload" key)
		sig=${tok##*.}
		std=$(printf '%s' "$sig" | tr -- '-_' '+/')
		while [ $((${#std} % 4)) -ne 0 ]; do std="$std="; done
		printf '%s.%s\n' "${tok%.*}" "$std"
		;;
	pad-payload)
		tok=$(token_build "$header" "$payload" key)
		head=${tok%%.*}
		body=$(printf '%s' "$payload" | base64 -w0 | tr '+/' '-_')
		case $body in *=) ;; *) body="$body==" ;; esac
		printf '%s.%s.%s\n' "$head" "$body" "${tok##*.}"
		;;
	*)
		token_build "$header" "$payload" "$sign"
		;;
	esac
}

# token_frame TOKEN ID: an authorize frame for a low-risk read (allowed by
# tests/hostile/policies/hostile.json once the token is admitted).
token_frame() {
	printf '{"v":1,"type":"authorize","id":"%s","token":"%s","tool":"fs.read","session":"%s-s","args":{"path":"/workspace/token"}}' \
	    "$2" "$1" "$2"
}

# token_good SCOPE [AGENT] [USER] [MORE_CLAIMS]: a valid token for a home
# configured with TOKEN_HOME_CONFIG (iss and aud set, which `token mint`
# cannot do), valid for two hours; MORE_CLAIMS is JSON members to add.
token_good() {
	local more=${4-}
	[ -n "$more" ] && more=",$more"
	token_build "$TOKEN_STD_HEADER" "$(token_payload "{\"iss\":\"@ISS@\",\"aud\":\"@AUD@\",\"sub\":\"${3:-alice}\",\"act\":{\"sub\":\"${2:-probe}\"},\"scope\":\"$1\",\"exp\":@FUTURE@,\"iat\":@NOW@,\"jti\":\"@JTI@\"$more}")" key
}
