# How C programs find the installed libpmp: a pkg-config file (pkg-config --cflags --libs pmp)
# and a CMake package (find_package(pmp) -> pmp::pmp), both under the libdir.
include(CMakePackageConfigHelpers)

foreach(_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    set(PMP_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
  else()
    set(PMP_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
  endif()
endforeach()
configure_file(pmp.pc.in ${CMAKE_CURRENT_BINARY_DIR}/pmp.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/pmp.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

set(_pmp_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/pmp)
configure_package_config_file(pmpConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/pmpConfig.cmake
                              INSTALL_DESTINATION ${_pmp_cmake_dir})
# 0.x releases may change the API: only the same minor release is compatible.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/pmpConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(EXPORT pmpTargets NAMESPACE pmp:: DESTINATION ${_pmp_cmake_dir})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/pmpConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/pmpConfigVersion.cmake
        DESTINATION ${_pmp_cmake_dir})
