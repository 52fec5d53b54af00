#!/usr/bin/env python3
"""Builds pii_eval.jsonl, the labelled evaluation set of the pii-scan engine.

The prompts below were written for this set (no text copied from the web).
`{ENTITY}` slots are filled with synthetic values: cards pass Luhn, IBANs
pass mod-97, SSNs avoid the never-issued ranges; everything else in the
text, including the hard negatives (invalid Luhn, bad IBAN checksums,
invalid SSN ranges, UUIDs, git SHAs, dates, versions, order numbers,
timestamps, placeholders), is written inline and is not labelled.

Each output line: {"id": N, "lang": "..", "format": "..", "text": "...",
"spans": [{"entity": "EMAIL", "start": 3, "end": 20}]}, byte offsets into
the UTF-8 text. Run `python3 build.py` to regenerate (seeded, deterministic).
"""
import json, random, re, string

rng = random.Random(20240603)

FIRST = ["jane", "omar", "li", "sofia", "lukas", "chloe", "mateo", "amelie", "noah", "ines", "ravi", "greta", "tom", "lucia", "pierre", "anna"]
LAST = ["doe", "haddad", "wei", "rossi", "becker", "martin", "garcia", "dubois", "smith", "fernandez", "patel", "schulz", "nguyen", "lopez", "moreau", "kowalski"]
DOMAINS = ["example.com", "example.org", "firma-beispiel.de", "exemple.fr", "empresa-ejemplo.es", "corp.example.net", "mail.example.co.uk", "uni-beispiel.de"]

def email():
    f, l, d = rng.choice(FIRST), rng.choice(LAST), rng.choice(DOMAINS)
    return rng.choice([f"{f}.{l}@{d}", f"{f[0]}.{l}@{d}", f"{f}_{l}{rng.randint(1, 99)}@{d}", f"{f}+{rng.choice(['news', 'billing', 'dev'])}@{d}", f"{l}{f[0]}@{d}"]).lower()

def digits(n):
    return "".join(rng.choice(string.digits) for _ in range(n))

def nanp():
    area = f"{rng.randint(2, 9)}{digits(2)}"
    ex = f"{rng.randint(2, 9)}{digits(2)}"
    line = digits(4)
    return rng.choice([f"({area}) {ex}-{line}", f"{area}-{ex}-{line}", f"{area}.{ex}.{line}", f"+1 {area} {ex} {line}",
                       f"+1-{area}-{ex}-{line}", f"1-800-{ex}-{line}", f"+1 ({area}) {ex}-{line}", f"({area}){ex}-{line}"])

def intl():
    return rng.choice([
        f"+44 20 7946 {digits(4)}", f"+44 7700 900{digits(3)}", f"+49 30 {digits(7)}", f"+49 (0)89 {digits(4)}-{digits(4)}",
        f"+49 171 {digits(7)}", f"+33 1 {digits(2)} {digits(2)} {digits(2)} {digits(2)}", f"+33 6 {digits(2)} {digits(2)} {digits(2)} {digits(2)}",
        f"+34 91 {digits(3)} {digits(2)} {digits(2)}", f"+34 6{digits(2)} {digits(3)} {digits(3)}", f"+41 44 {digits(3)} {digits(2)} {digits(2)}",
        f"+31 20 {digits(3)} {digits(4)}", f"+39 06 {digits(4)} {digits(4)}", f"+4930{digits(7)}", f"+52 55 {digits(4)} {digits(4)}",
    ])

def fr_national():
    sep = rng.choice([" ", "."])
    return sep.join([f"0{rng.choice('1234567')}{rng.randint(0, 9)}"[:2]] + [digits(2) for _ in range(4)])

def de_national():
    return f"030 {digits(7)}"

def phone():
    r = rng.random()
    return nanp() if r < 0.5 else intl()

def ssn():
    while True:
        a, g, s = rng.randint(1, 899), rng.randint(1, 99), rng.randint(1, 9999)
        if a != 666:
            break
    sep = "-" if rng.random() < 0.85 else " "
    return f"{a:03d}{sep}{g:02d}{sep}{s:04d}"

def luhn_complete(prefix, length):
    body = prefix + digits(length - len(prefix) - 1)
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)

def card():
    kind = rng.choice(["visa", "visa", "mc", "mc2", "amex", "discover", "jcb"])
    if kind == "amex":
        n = luhn_complete(rng.choice(["34", "37"]), 15)
        groups = [n[:4], n[4:10], n[10:]]
    else:
        prefix = {"visa": "4", "mc": str(rng.randint(51, 55)), "mc2": str(rng.randint(2221, 2720)), "discover": "6011", "jcb": "35" + str(rng.randint(28, 89))}[kind]
        n = luhn_complete(prefix, 16)
        groups = [n[i:i + 4] for i in range(0, 16, 4)]
    style = rng.choice([" ", " ", "-", ""])
    return style.join(groups)

def bad_card():
    n = luhn_complete("4", 16)
    last = str((int(n[-1]) + rng.randint(1, 9)) % 10)
    return " ".join([n[:4], n[4:8], n[8:12], n[12:15] + last])

IBAN_LEN = {"DE": 22, "FR": 27, "ES": 24, "GB": 22, "NL": 18, "IT": 27, "CH": 21, "AT": 20, "BE": 16}

def iban_check(country, bban):
    rearranged = bban + country + "00"
    num = "".join(str(int(c, 36)) for c in rearranged)
    return f"{98 - int(num) % 97:02d}"

def bban(country):
    if country == "GB":
        return rng.choice(["NWBK", "BARC", "MIDL"]) + digits(14)
    if country == "NL":
        return rng.choice(["ABNA", "RABO", "INGB"]) + digits(10)
    if country == "FR":
        return digits(10) + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(11)) + digits(2)
    if country == "IT":
        return rng.choice(string.ascii_uppercase) + digits(10) + "".join(rng.choice(string.digits) for _ in range(12))
    return digits(IBAN_LEN[country] - 4)

def iban_compact(country=None):
    country = country or rng.choice(list(IBAN_LEN))
    b = bban(country)
    return country + iban_check(country, b) + b

def iban():
    value = iban_compact()
    if rng.random() < 0.6:
        value = " ".join(value[i:i + 4] for i in range(0, len(value), 4))
    return value

def bad_iban():
    value = iban_compact("DE")
    wrong = value[:-1] + str((int(value[-1]) + 1) % 10)
    return " ".join(wrong[i:i + 4] for i in range(0, len(wrong), 4))

def ipv4():
    return rng.choice([f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                       f"172.{rng.randint(16, 31)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", f"{rng.randint(11, 99)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                       f"203.0.113.{rng.randint(1, 254)}", f"198.51.100.{rng.randint(1, 254)}", "127.0.0.1"])

def ipv6():
    h = lambda: f"{rng.randint(0, 0xffff):x}"
    return rng.choice([f"2001:db8:{h()}:{h()}::{h()}", f"fe80::{h()}:{h()}:{h()}:{h()}", f"2a00:1450:4001:{h()}::{h()}", "::1",
                       f"fd12:3456:789a:{h()}::{h()}", ":".join(h() for _ in range(8))])

def ip():
    return ipv4() if rng.random() < 0.7 else ipv6()

def b62(n):
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))

def b64url(n):
    return "".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(n))

def jwt():
    return "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + "eyJ" + b64url(rng.randint(30, 60)) + "." + b64url(43)

def pem():
    lines = "\n".join(b62(64) for _ in range(rng.randint(3, 6)))
    kind = rng.choice(["RSA ", "EC ", "", "OPENSSH "])
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{lines}\n-----END {kind}PRIVATE KEY-----"

def prefixed_secret():
    return rng.choice([
        lambda: "sk-proj-" + b64url(rng.randint(60, 100)),
        lambda: "sk-" + b62(48),
        lambda: "sk-ant-api03-" + b64url(93) + "AA",
        lambda: "ghp_" + b62(36),
        lambda: "github_pat_11" + b62(20) + "_" + b62(59),
        lambda: "xoxb-" + digits(12) + "-" + digits(13) + "-" + b62(24),
        lambda: "AIza" + b64url(35),
        lambda: "AKIA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16)),
        jwt,
    ])()

def aws_secret():
    return "".join(rng.choice(string.ascii_letters + string.digits + "/+") for _ in range(38)) + rng.choice("ABCDEFGH") + rng.choice("0123456789")

def password():
    words = ["Sommer", "Blue", "Tiger", "Soleil", "Luna", "Falcon", "Nieve", "Orange", "Winter", "Kaffee"]
    return rng.choice(words) + rng.choice(["!", "#", "-", "_", "$"]) + str(rng.randint(10, 9999)) + rng.choice(["", "x", "?", "Q"])

GEN = {"EMAIL": email, "PHONE": phone, "NANP": nanp, "INTL": intl, "FRPHONE": fr_national, "DENATIONAL": de_national, "US_SSN": ssn, "CREDIT_CARD": card,
       "IBAN": iban, "IP_ADDRESS": ip, "IPV4": ipv4, "IPV6": ipv6, "SECRET": prefixed_secret, "JWT": jwt, "PEM": pem,
       "AWS_SECRET": aws_secret, "PASSWORD": password}
ENTITY = {"DENATIONAL": "PHONE", "NANP": "PHONE", "INTL": "PHONE", "FRPHONE": "PHONE", "IPV4": "IP_ADDRESS", "IPV6": "IP_ADDRESS", "JWT": "SECRET", "PEM": "SECRET",
          "AWS_SECRET": "SECRET", "PASSWORD": "SECRET"}
# Inline fillers that are NOT labelled (hard negatives).
NEG = {"BADCARD": bad_card, "BADIBAN": bad_iban, "UUID": lambda: "%08x-%04x-4%03x-a%03x-%012x" % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12), rng.getrandbits(12), rng.getrandbits(48)),
       "SHA": lambda: "%040x" % rng.getrandbits(160), "SHORTSHA": lambda: "%07x" % rng.getrandbits(28),
       "BADSSN": lambda: rng.choice(["000", "666", str(rng.randint(900, 999))]) + f"-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"}

TEMPLATES = [
    # (lang, format, text)
    ("en", "prose", "Hi, I'm {EMAIL} and my number is {NANP}. Please update the CRM record created on 2024-02-11 (ticket #48213)."),
    ("en", "prose", "Can you draft a reply to {EMAIL}? Mention that the refund for order 2024-118-3342 goes to card {CREDIT_CARD} within 5-7 business days."),
    ("en", "prose", "My SSN is {US_SSN} and my wife's is {US_SSN}. We filed jointly for 2023; the preparer's id is P01234567."),
    ("en", "prose", "The server at {IPV4} keeps timing out since the v2.14.3 rollout at 09:42:17 UTC; the fallback at {IPV4} is fine."),
    ("en", "prose", "Summarise this complaint: customer {EMAIL} says she was charged twice on {CREDIT_CARD}, amount $1,249.99, ref INV-88120."),
    ("en", "prose", "Call me at {NANP} or text {NANP} after 6pm. Don't use the old fax, it's disconnected."),
    ("en", "prose", "Here is our OpenAI key, please check why it fails: {SECRET} (created 2024-05-02, project alpha-7)."),
    ("en", "prose", "Use the test card 4111 1111 1111 1112? No wait, that one fails Luhn. The real one on file is {CREDIT_CARD}."),
    ("en", "prose", "Transfer the deposit to IBAN {IBAN}, not to {BADIBAN} which bounced last week."),
    ("en", "prose", "I was told SSNs like {BADSSN} are never issued, but mine, {US_SSN}, was rejected by the portal anyway."),
    ("en", "code", "import openai\nclient = openai.OpenAI(api_key=\"{SECRET}\")\n# TODO: move to env, see commit {SHA}\n"),
    ("en", "code", "const cfg = {\n  apiKey: process.env.API_KEY,\n  fallbackKey: 'sk-...',\n  dbPassword: \"{PASSWORD}\",\n  host: \"{IPV4}\",\n};\n"),
    ("en", "code", "# .env\nDATABASE_URL=postgres://app@db.internal:5432/app\nDB_PASSWORD={PASSWORD}\nSTRIPE_KEY=YOUR_STRIPE_KEY\nGITHUB_TOKEN={SECRET}\n"),
    ("en", "code", "curl -H \"Authorization: Bearer {JWT}\" https://api.example.com/v1/users/{UUID}"),
    ("en", "code", "def connect():\n    password = getpass.getpass()\n    token = os.environ[\"TOKEN\"]\n    return Client(host=\"{IPV4}\", port=8443, password=password)\n"),
    ("en", "code", "aws configure set aws_access_key_id {SECRET}\naws configure set aws_secret_access_key {AWS_SECRET}\n"),
    ("en", "code", "Why does ssh reject this key?\n{PEM}\nIt worked on build 20240315.2 yesterday."),
    ("en", "json", "{\"user\": {\"email\": \"{EMAIL}\", \"phone\": \"{PHONE}\", \"ssn\": \"{US_SSN}\"}, \"request_id\": \"{UUID}\", \"version\": \"3.2.1\"}"),
    ("en", "json", "{\"model\": \"gpt-4o-mini\", \"max_tokens\": 1024, \"temperature\": 0.7, \"metadata\": {\"client_ip\": \"{IPV4}\", \"trace\": \"{SHORTSHA}\"}}"),
    ("en", "json", "{\"type\": \"service_account\", \"client_email\": \"{EMAIL}\", \"private_key\": \"{PEMINLINE}\", \"token_uri\": \"https://oauth2.example.com/token\"}"),
    ("en", "json", "[{\"name\": \"Slack bot\", \"token\": \"{SECRET}\"}, {\"name\": \"placeholder\", \"token\": \"<token>\"}, {\"name\": \"ci\", \"password\": \"xxxx\"}]"),
    ("en", "logs", "2024-06-03T10:15:22.381Z WARN auth failed for {EMAIL} from {IPV4} (attempt 3/5, session {UUID})"),
    ("en", "logs", "Jun 03 10:15:23 gw-01 sshd[2231]: Accepted publickey for deploy from {IPV6} port 51514 ssh2: RSA SHA256:{SHORTSHA}"),
    ("en", "logs", "[2024-06-03 10:16:01] payment.declined card={CREDIT_CARD} amount=42.00 currency=USD order=ORD-2024-004512 latency_ms=184"),
    ("en", "logs", "level=info msg=\"upstream connected\" peer={IPV4}:443 tls=1.3 build=1.40.2 commit={SHA} uptime=3d4h"),
    ("en", "csv", "name,email,phone,ssn\nJane Roe,{EMAIL},{NANP},{US_SSN}\nOmar Haddad,{EMAIL},{NANP},{US_SSN}\nTest User,test@invalid,555-0100,000-00-0000\n"),
    ("en", "csv", "date,account,iban,amount\n2024-05-01,ACME GmbH,{IBAN},1200.00\n2024-05-02,Dubois SARL,{IBAN},980.50\n2024-05-03,Unknown,{BADIBAN},10.00\n"),
    ("en", "prose", "The new GPU box is at {IPV6}; the old one was 10.0.0.300 (typo in the wiki, it doesn't exist). Ping me at {EMAIL}."),
    ("en", "prose", "Draft a polite decline to {EMAIL}. Context: their quote Q-2024-0611 for 1,250 units at $3.75 expired on 06/11/2024."),
    ("en", "prose", "Our Google Maps key {SECRET} was leaked in the frontend bundle v5.2.0; rotate it and tell {EMAIL}."),
    ("en", "markdown", "| Field | Value |\n|---|---|\n| Contact | {EMAIL} |\n| Phone | {PHONE} |\n| Card | {CREDIT_CARD} |\n| Build | 2.8.1-rc3 |\n"),
    ("de", "prose", "Hallo, bitte schreibe eine Antwort an {EMAIL}. Die Rechnung Nr. 2024/0815 vom 03.04.2024 ist noch offen; erreichbar unter {INTL}."),
    ("de", "prose", "Meine IBAN lautet {IBAN}, BIC DEUTDEFFXXX. Bitte überweise die Kaution bis zum 15.07.2024."),
    ("de", "prose", "Kannst du prüfen, warum der Login scheitert? Benutzer {EMAIL}, Passwort: {PASSWORD}, Server {IPV4}."),
    ("de", "prose", "Der Kunde hat seine Kreditkarte {CREDIT_CARD} gesperrt; die alte Nummer {BADCARD} bitte löschen. Rückruf unter {INTL}."),
    ("de", "prose", "Im Anhang die Logdatei. Fehler trat um 14:32:05 auf, Version 4.1.7, Auftrag 4711-0815-42, Host {IPV4}."),
    ("de", "json", "{\"kunde\": \"Müller\", \"email\": \"{EMAIL}\", \"telefon\": \"{INTL}\", \"iban\": \"{IBAN}\", \"kundennummer\": \"KD-2024-77812\"}"),
    ("de", "code", "# Konfiguration\nSMTP_HOST=mail.firma-beispiel.de\nSMTP_USER={EMAIL}\nSMTP_PASSWORD={PASSWORD}\nSMTP_PORT=587\n"),
    ("de", "csv", "Name;E-Mail;Telefon;IBAN\nLukas Becker;{EMAIL};{INTL};{IBAN}\nGreta Schulz;{EMAIL};{INTL};{IBAN}\n"),
    ("de", "prose", "Mein Handy: {INTL}. Festnetz bitte nicht nutzen. Sozialversicherungsnummer habe ich keine US-SSN, nur 65 170839 J 003."),
    ("fr", "prose", "Bonjour, pouvez-vous répondre à {EMAIL} ? Le client attend un devis avant vendredi ; son numéro est le {FRPHONE}."),
    ("fr", "prose", "Voici mon RIB : {IBAN}. Merci de ne pas utiliser l'ancien compte, clôturé le 31/12/2023."),
    ("fr", "prose", "Le mot de passe du Wi-Fi invité est {PASSWORD}, et l'adresse de la box est {IPV4}."),
    ("fr", "prose", "Résume ce ticket : l'utilisateur {EMAIL} (tél. {FRPHONE}) signale une erreur 502 depuis la version 3.4.0."),
    ("fr", "json", "{\"nom\": \"Dubois\", \"courriel\": \"{EMAIL}\", \"tel\": \"{INTL}\", \"carte\": \"{CREDIT_CARD}\", \"commande\": \"CMD-2024-00917\"}"),
    ("fr", "logs", "2024-06-03 11:02:44,120 ERREUR connexion refusée pour {EMAIL} depuis {IPV4} (id {UUID})"),
    ("fr", "csv", "nom,courriel,téléphone\nAmélie Martin,{EMAIL},{FRPHONE}\nPierre Moreau,{EMAIL},{INTL}\n"),
    ("es", "prose", "Hola, ¿puedes contestar a {EMAIL}? Quiere saber si el pedido 2024-55-1234 llegó; su móvil es {INTL}."),
    ("es", "prose", "Mi tarjeta es la {CREDIT_CARD} y la cuenta para la devolución es {IBAN}. Gracias."),
    ("es", "prose", "La contraseña: {PASSWORD} dejó de funcionar después de la actualización 2.3.9 del 12/05/2024."),
    ("es", "prose", "El servidor {IPV4} responde lento; el de respaldo {IPV6} está bien. Escríbeme a {EMAIL}."),
    ("es", "json", "{\"nombre\": \"Lucía López\", \"correo\": \"{EMAIL}\", \"telefono\": \"{INTL}\", \"iban\": \"{IBAN}\", \"factura\": \"F-2024-000381\"}"),
    ("es", "code", "db:\n  host: {IPV4}\n  user: app\n  password: \"{PASSWORD}\"\n  pool: 10\napi:\n  key: TU_API_KEY\n"),
    ("en", "prose", "Please anonymise: Patient John Q. Public, DOB 04/12/1980, SSN {US_SSN}, phone {NANP}, email {EMAIL}."),
    ("en", "prose", "Placeholders only: api_key=YOUR_API_KEY, token=<your-token>, password=********, sk-xxxxxxxxxxxxxxxxxxxx, AKIAXXXXXXXXXXXXXXXX."),
    ("en", "prose", "Hash check: {SHA} vs {SHA}; UUIDs {UUID} and {UUID}; released 2024-03-15T09:45:12Z as v10.2.0."),
    ("en", "prose", "Order numbers 2024-0001-7734, 123-45-67890 and 4000-1234-5678 are internal ids, not PII. ISBN 978-3-16-148410-0."),
    ("en", "prose", "The staging key is {SECRET} and prod uses a different one. Also our Slack bot posts as {EMAIL}."),
    ("en", "yaml", "smtp:\n  host: smtp.example.com\n  username: {EMAIL}\n  password: {PASSWORD}\nretries: 3\ntimeout: 30s\n"),
    ("en", "prose", "Wire from {IBAN} to {IBAN} failed with code 6612-88; retry after 10:30."),
    ("en", "prose", "My cards: {CREDIT_CARD} (personal) and {CREDIT_CARD} (company). Expiry 09/27 and 11/26."),
    ("en", "prose", "Reach support at {INTL} or {NANP}; our office is at 1600 Example Ave, Suite 400, zip 94043."),
    ("en", "prose", "Firewall rule: allow {IPV4}/32 and {IPV4}/24 to port 5432; deny 0.0.0.0/0 otherwise. Version 1.2.3.4 of the agent ignores this."),
    ("en", "code", "ssh -i ~/.ssh/id_ed25519 admin@{IPV4} 'systemctl restart api' # host key SHA256:{SHORTSHA}"),
    ("en", "prose", "Token for the webhook: {JWT}. It expires at 1717411200 (unix time)."),
    ("en", "prose", "These are the numbers you asked for: {PHONE}, {PHONE}, {PHONE}."),
    ("en", "prose", "Please check whether {BADCARD} is a valid card; the customer also sent {CREDIT_CARD}."),
    ("de", "prose", "Bitte sende die Unterlagen an {EMAIL} und ruf {INTL} an, falls Fragen sind; Aktenzeichen 12 O 345/23."),
    ("fr", "prose", "Appelez le {FRPHONE} ou écrivez à {EMAIL}. Référence dossier 2024-FR-00123."),
    ("de", "prose", "Rückruf bitte unter {DENATIONAL} (Festnetz, Berlin), nicht unter der Zentrale. Vorgang 2024-DE-0042."),
    ("es", "csv", "fecha;cliente;correo;teléfono\n2024-05-01;Mateo García;{EMAIL};{INTL}\n2024-05-02;Inés Fernández;{EMAIL};{INTL}\n"),
]

def pem_inline():
    return pem().replace("\n", "\\n")

GEN["PEMINLINE"] = pem_inline
ENTITY["PEMINLINE"] = "SECRET"

def render(text):
    out, spans, pos = "", [], 0
    for m in re.finditer(r"\{([A-Z0-9_]+)\}", text):
        out += text[pos:m.start()]
        name = m.group(1)
        if name in NEG:
            out += NEG[name]()
        else:
            value = GEN[name]()
            start = len(out.encode())
            out += value
            spans.append({"entity": ENTITY.get(name, name), "start": start, "end": len(out.encode())})
        pos = m.end()
    out += text[pos:]
    return out, spans

def main():
    rows = []
    for round_ in range(3):
        for lang, fmt, template in TEMPLATES:
            text, spans = render(template)
            rows.append({"id": len(rows) + 1, "lang": lang, "format": fmt, "text": text, "spans": spans})
    with open("pii_eval.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts = {}
    for row in rows:
        for s in row["spans"]:
            counts[s["entity"]] = counts.get(s["entity"], 0) + 1
    print(len(rows), "texts", sum(counts.values()), "entities", counts)

if __name__ == "__main__":
    main()
