# `cmake --install` (and `make install`, which honours DESTDIR and PREFIX): the binary, the man
# pages, the example config, the systemd units and the sysusers.d entry for the "udpx" account.
# Paths follow GNUInstallDirs: with the prefix /usr (a package), the config goes to /etc/udpx/ and
# the units to /lib/systemd/system, as Debian 12 wants them.
include(GNUInstallDirs)

set(UDPX_CONFIG_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/udpx" CACHE PATH "Where the config file is installed")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(udpx_unit_default "/lib/systemd/system")
else()
  set(udpx_unit_default "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
set(UDPX_SYSTEMD_UNIT_DIR "${udpx_unit_default}" CACHE PATH "Where the systemd units are installed")
set(UDPX_SYSUSERS_DIR "${CMAKE_INSTALL_PREFIX}/lib/sysusers.d" CACHE PATH "Where the sysusers.d file is installed")

# The units in contrib/systemd/ name the packaged paths (/usr/sbin/udpx, /etc/udpx/udpx.toml); the
# installed copies name the paths of this install. (An older spelling, /usr/local/bin/udpx or
# /etc/udpx.toml, is rewritten too, so a unit line added in that form still points at this install.)
function(udpx_installed_copy src dst)
  file(READ "${CMAKE_CURRENT_SOURCE_DIR}/${src}" text)
  foreach(old "/usr/local/bin/udpx" "/usr/sbin/udpx")
    string(REPLACE "${old} " "${CMAKE_INSTALL_FULL_SBINDIR}/udpx " text "${text}")
    string(REPLACE "${old}\n" "${CMAKE_INSTALL_FULL_SBINDIR}/udpx\n" text "${text}")
  endforeach()
  foreach(old "/etc/udpx.toml" "/etc/udpx/udpx.toml")
    string(REPLACE "${old}" "${UDPX_CONFIG_DIR}/udpx.toml" text "${text}")
  endforeach()
  set(out "${CMAKE_CURRENT_BINARY_DIR}/installed/${dst}")
  if(EXISTS "${out}")
    file(READ "${out}" before)
  endif()
  if(NOT EXISTS "${out}" OR NOT before STREQUAL text)
    file(WRITE "${out}" "${text}")
  endif()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/${src}")
endfunction()

udpx_installed_copy(contrib/systemd/udpx.service udpx.service)
udpx_installed_copy(contrib/systemd/socket-activated/udpx.service socket-activated/udpx.service)
udpx_installed_copy(contrib/systemd/socket-activated/udpx.socket socket-activated/udpx.socket)
udpx_installed_copy(docs/man/udpx.8 udpx.8)
udpx_installed_copy(docs/man/udpx.toml.5 udpx.toml.5)

install(TARGETS udpx RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/installed/udpx.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/installed/udpx.toml.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
install(FILES conf/udpx.toml DESTINATION ${UDPX_CONFIG_DIR} PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/installed/udpx.service DESTINATION ${UDPX_SYSTEMD_UNIT_DIR})
install(FILES contrib/systemd/udpx.sysusers RENAME udpx.conf DESTINATION ${UDPX_SYSUSERS_DIR})
# The socket-activated pair replaces udpx.service and names site-specific addresses: an example.
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/installed/socket-activated/udpx.service
              ${CMAKE_CURRENT_BINARY_DIR}/installed/socket-activated/udpx.socket
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/socket-activated)
install(DIRECTORY conf/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
