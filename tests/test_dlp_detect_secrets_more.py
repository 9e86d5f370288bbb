"""Every remaining rule family fires on a random-bodied example of its format, in context."""

from __future__ import annotations

import base64
import random
import string

import pytest

from bordergate.dlp.secrets import SecretDetector

R = random.Random(11)
AN = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
UP = string.ascii_uppercase + string.digits


def r(n: int, alphabet: str = AN) -> str:
    return "".join(R.choice(alphabet) for _ in range(n))


def uuid() -> str:
    return "-".join(r(n, HEX) for n in (8, 4, 4, 4, 12))


B32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"
BASIC = base64.b64encode(f"deploy:{r(16)}".encode()).decode()

# (rule id, text, the secret value the finding must cover)
EXAMPLES: list[tuple[str, str, str]] = [
    ("age-secret-key", "key: {v}", "AGE-SECRET-KEY-1" + r(58, B32)),
    ("aws-session-token", "aws_session_token = {v}", r(160, AN + "/+")),
    ("google-oauth-access-token", "Bearer-ish {v}", "ya29." + r(120, AN + "_-")),
    ("azure-shared-access-key", "Endpoint=sb://x/;SharedAccessKey={v}", r(43, AN + "+/") + "="),
    (
        "azure-sas-token",
        "https://a.blob.core.windows.net/c/f?sv=2022-11-02&sr=b&sig={v}",
        r(44, AN) + "%3D",
    ),
    ("heroku-api-key", "HEROKU_API_KEY={v}", "HRKU-" + r(60, AN + "_-")),
    ("databricks-token", "token={v}", "dapi" + r(32, HEX)),
    ("baidu-bce-v3-token", "auth {v}", f"bce-v3/ALTAK-{r(21)}/{r(40, HEX)}"),
    ("moonshot-api-key", "MOONSHOT_API_KEY={v}", "sk-" + r(48)),
    ("zhipu-api-key", "ZHIPU_API_KEY={v}", r(32, HEX) + "." + r(16)),
    ("ai-provider-api-key", "MISTRAL_API_KEY={v}", r(32)),
    ("xai-api-key", "XAI_API_KEY={v}", "xai-" + r(80)),
    ("replicate-api-token", "REPLICATE_API_TOKEN={v}", "r8_" + r(37)),
    ("perplexity-api-key", "PPLX={v}", "pplx-" + r(48)),
    ("gitlab-runner-token", "runner {v}", "glrt-" + r(20)),
    ("atlassian-api-token", "JIRA_TOKEN={v}", "ATATT3" + r(186, AN + "_-")),
    ("terraform-cloud-token", "token = {v}", f"{r(14)}.atlasv1.{r(67, AN + '_-')}"),
    ("pulumi-access-token", "PULUMI_ACCESS_TOKEN={v}", "pul-" + r(40, HEX)),
    ("postman-api-key", "x-api-key: {v}", f"PMAK-{r(24, HEX)}-{r(34, HEX)}"),
    ("grafana-service-account-token", "GRAFANA={v}", f"glsa_{r(32)}_{r(8, HEX)}"),
    ("sentry-auth-token", "SENTRY_AUTH_TOKEN={v}", "sntryu_" + r(64, HEX)),
    ("linear-api-key", "LINEAR={v}", "lin_api_" + r(40)),
    ("notion-token", "NOTION={v}", "ntn_" + r(46)),
    ("shopify-token", "X-Shopify-Access-Token: {v}", "shpat_" + r(32, HEX)),
    ("new-relic-api-key", "NEW_RELIC={v}", "NRAK-" + r(27, UP)),
    ("supabase-token", "SUPABASE={v}", "sbp_" + r(40, HEX)),
    ("doppler-token", "DOPPLER_TOKEN={v}", "dp.pt." + r(43)),
    ("datadog-api-key", "DD_API_KEY={v}", r(32, HEX)),
    ("cloudflare-api-token", "CLOUDFLARE_API_TOKEN={v}", r(40, AN + "_-")),
    (
        "slack-user-token",
        "SLACK={v}",
        f"xoxp-{r(11, '0123456789')}-{r(11, '0123456789')}-{r(12, '0123456789')}-{r(32, HEX)}",
    ),
    (
        "slack-app-token",
        "SLACK_APP_TOKEN={v}",
        f"xapp-1-A{r(10, UP)}-{r(13, '0123456789')}-{r(64, HEX)}",
    ),
    ("dingtalk-access-token", "dingtalk_access_token: {v}", r(64, HEX)),
    ("dingtalk-robot-secret", "钉钉加签密钥 {v}", "SEC" + r(64, HEX)),
    ("wechat-app-secret", "WECHAT_APP_SECRET={v}", r(32, HEX)),
    ("discord-bot-token", "DISCORD_BOT_TOKEN={v}", f"M{r(25)}.{r(6)}.{r(38, AN + '_-')}"),
    (
        "teams-webhook",
        "webhook: {v}",
        f"https://contoso.webhook.office.com/webhookb2/{uuid()}@{uuid()}"
        f"/IncomingWebhook/{r(32, HEX)}/{uuid()}",
    ),
    ("stripe-webhook-secret", "STRIPE_WEBHOOK_SECRET={v}", "whsec_" + r(32)),
    ("paypal-client-secret", "PAYPAL_CLIENT_SECRET={v}", r(80, AN + "_-")),
    ("square-oauth-secret", "SQUARE={v}", "sq0csp-" + r(43, AN + "_-")),
    ("twilio-auth-token", "TWILIO_AUTH_TOKEN={v}", r(32, HEX)),
    ("mailchimp-api-key", "MAILCHIMP={v}", r(32, HEX) + "-us14"),
    ("facebook-access-token", "fb_token={v}", "EAAB" + r(120)),
    ("twitter-bearer-token", "TWITTER_BEARER={v}", "A" * 22 + r(80)),
    ("firebase-cloud-messaging-key", "FCM={v}", f"AAAA{r(7, AN + '_-')}:APA91b{r(134, AN + '_-')}"),
    ("http-bearer-token", "Authorization: Bearer {v}", r(48, AN + "-_.")),
    ("http-basic-auth", "Authorization: Basic {v}", BASIC),
    ("cli-secret-argument", "mysql --password {v} -h db", r(14) + "7"),
    ("huawei-cloud-access-key", "HUAWEICLOUD_SDK_AK={v}", r(20, UP)),
    ("baidu-cloud-credential", "QIANFAN_SECRET_KEY={v}", r(32)),
    ("alibaba-access-key-secret", "aliyun_access_key_secret = {v}", r(30)),
]


@pytest.mark.parametrize(("rule", "template", "value"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_rule_fires_on_its_format(rule: str, template: str, value: str) -> None:
    text = "line before\n" + template.format(v=value) + "\nline after"
    findings = SecretDetector().scan(text)
    covering = [f for f in findings if f.start <= text.index(value) < f.end]
    assert covering, (rule, findings)
    assert covering[0].rule == rule, (rule, [f.rule for f in findings])
