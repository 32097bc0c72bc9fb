/* TLS for etcds:// paths: the members' certificates checked against the URL's CA file (or
 * the system's), a client certificate when one is given, and plain HTTP refused otherwise. */
#include <curl/curl.h>

#include "bt_etcd_http.h"

void bt_etcd_curl_tls(CURL *c, const bt_etcd_url *url) {
    if (!url || !url->tls) {
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
        return;
    }
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (url->cacert)
        curl_easy_setopt(c, CURLOPT_CAINFO, url->cacert);
    if (url->cert) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, url->cert);
        curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(c, CURLOPT_SSLKEY, url->key);
        curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
    }
    /* as etcdctl's --insecure-skip-tls-verify: neither the chain nor the name is checked */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, url->insecure ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, url->insecure ? 0L : 2L);
}

int bt_etcd_tls_failure(CURLcode rc) {
    switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
        return 1;
    default:
        return 0;
    }
}
