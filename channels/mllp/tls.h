// TLS helpers shared by the MLLP listener and client (internal to sb_mllp).
#pragma once

#include <string>

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>

#include "channels/mllp/mllp.h"

namespace sb::mllp::detail {

// A server context: TLS 1.2+, our cert/key, and with requireClientCert the peer must present a
// certificate issued by a CA in caFile. Throws std::runtime_error naming the failing file.
void configureServerContext(boost::asio::ssl::context& ctx, const TlsOptions& tls);

// A client context: TLS 1.2+, optional client cert/key, and peer verification against caFile
// (or the system store when caFile is empty) unless verifyPeer is false.
void configureClientContext(boost::asio::ssl::context& ctx, const TlsOptions& tls);

// The subject of the peer certificate in RFC 2253 form, or "" when there is none.
std::string peerCertificateSubject(SSL* ssl);

// A readable description of a (possibly OpenSSL) error code, with the library reason.
std::string describe(const boost::system::error_code& ec);

// True for errors from the TLS layer (handshake, alerts, verification).
bool isTlsError(const boost::system::error_code& ec);

}  // namespace sb::mllp::detail
