#include "channels/mllp/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <stdexcept>

#include <fmt/format.h>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

namespace sb::mllp::detail {
namespace ssl = boost::asio::ssl;

namespace {

void setMinimumTls12(ssl::context& ctx) {
  // TLS 1.0/1.1 are deprecated (RFC 8996); refusing them is a requirement, not a preference.
  if (SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION) != 1) {
    throw std::runtime_error("cannot restrict TLS to version 1.2 or later");
  }
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
}

template <typename F>
void orThrow(F&& f, std::string_view what, const std::string& file) {
  boost::system::error_code ec;
  f(ec);
  if (ec)
    throw std::runtime_error(fmt::format("TLS: cannot load {} '{}': {}", what, file, describe(ec)));
}

void loadOwnIdentity(ssl::context& ctx, const TlsOptions& tls) {
  orThrow([&](auto& ec) { ctx.use_certificate_chain_file(tls.certFile, ec); }, "certificate",
          tls.certFile);
  orThrow([&](auto& ec) { ctx.use_private_key_file(tls.keyFile, ssl::context::pem, ec); },
          "private key", tls.keyFile);
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    throw std::runtime_error(fmt::format("TLS: private key '{}' does not match certificate '{}'",
                                         tls.keyFile, tls.certFile));
  }
}

}  // namespace

void configureServerContext(ssl::context& ctx, const TlsOptions& tls) {
  setMinimumTls12(ctx);
  if (tls.certFile.empty() || tls.keyFile.empty()) {
    throw std::runtime_error("TLS: the listener needs certFile and keyFile");
  }
  loadOwnIdentity(ctx, tls);
  if (tls.requireClientCert) {
    if (tls.caFile.empty()) throw std::runtime_error("TLS: requireClientCert needs caFile");
    orThrow([&](auto& ec) { ctx.load_verify_file(tls.caFile, ec); }, "CA file", tls.caFile);
    // Tells clients which issuers we accept, so they pick the right certificate.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.caFile.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(ctx.native_handle(), names);
    ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  } else {
    ctx.set_verify_mode(ssl::verify_none);
  }
}

void configureClientContext(ssl::context& ctx, const TlsOptions& tls) {
  setMinimumTls12(ctx);
  if (!tls.certFile.empty() || !tls.keyFile.empty()) loadOwnIdentity(ctx, tls);
  if (tls.verifyPeer) {
    if (tls.caFile.empty()) {
      ctx.set_default_verify_paths();
    } else {
      orThrow([&](auto& ec) { ctx.load_verify_file(tls.caFile, ec); }, "CA file", tls.caFile);
    }
    ctx.set_verify_mode(ssl::verify_peer);
  } else {
    ctx.set_verify_mode(ssl::verify_none);
  }
}

std::string peerCertificateSubject(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return {};
  std::string subject;
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio != nullptr) {
    if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
      char* data = nullptr;
      const long len = BIO_get_mem_data(bio, &data);
      if (len > 0) subject.assign(data, static_cast<std::size_t>(len));
    }
    BIO_free(bio);
  }
  X509_free(cert);
  return subject;
}

std::string describe(const boost::system::error_code& ec) {
  std::string text = ec.message();
  if (ec.category() == boost::asio::error::get_ssl_category()) {
    const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
    if (reason != nullptr && text.find(reason) == std::string::npos) {
      text = fmt::format("{} ({})", text, reason);
    }
  }
  return text;
}

bool isTlsError(const boost::system::error_code& ec) {
  return ec.category() == boost::asio::error::get_ssl_category() ||
         ec.category() == ssl::error::get_stream_category();
}

}  // namespace sb::mllp::detail
